"""Holdfast: one call per capability, per group of hosts.

    pyinfra inventories/prod.py deploy.py
"""

from pyinfra import host

from holdfast.base import deploy_base
from holdfast.escalation import deploy_audit
from holdfast.monit import deploy_monit
from holdfast.nginx import deploy_nginx

deploy_audit()
deploy_base()

if "web" in host.groups:
    deploy_nginx()

deploy_monit()
