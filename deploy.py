"""Holdfast: one call per capability, per group of hosts.

    pyinfra inventories/prod.py deploy.py
"""

from pyinfra import host

from holdfast.base import deploy_base
from holdfast.escalation import deploy_audit
from holdfast.hosted_monitors import deploy_heartbeat, deploy_hosted_monitors
from holdfast.nginx import deploy_nginx

deploy_audit()
deploy_base()
deploy_hosted_monitors()  # once per deploy, from the control machine
deploy_heartbeat()

if "web" in host.groups:
    deploy_nginx()
