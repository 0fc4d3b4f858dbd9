"""Holdfast: one call per capability, per group of hosts.

    pyinfra inventories/prod.py deploy.py
"""

from holdfast.base import deploy_base

deploy_base()
