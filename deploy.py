"""Holdfast: one call per capability, per group of hosts.

    pyinfra inventories/prod.py deploy.py
"""

from pyinfra import host

from holdfast.base import deploy_base
from holdfast.monitoring import deploy_monitor_host, deploy_node_exporter
from holdfast.nginx import deploy_nginx

deploy_base()

if "web" in host.groups:
    deploy_nginx()
    deploy_node_exporter()

if "monitors" in host.groups:
    deploy_monitor_host()
