"""Holdfast: one call per capability, per group of hosts.

    pyinfra inventories/prod.py deploy.py
"""

from pyinfra import host

from holdfast.base import deploy_base
from holdfast.escalation import deploy_audit
from holdfast.monit import deploy_monit
from holdfast.nginx import deploy_nginx
from holdfast.slices import deploy_slices

deploy_audit()
deploy_base()

if "web" in host.groups:
    deploy_slices()  # first: a service installed after it starts in its slice
    deploy_nginx()

deploy_monit()
