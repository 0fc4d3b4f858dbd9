"""The single-point-of-failure audit on its own (`make audit`), without changing anything:

    pyinfra --dry inventories/prod.py audit.py
"""

from holdfast.audit import deploy_audit

deploy_audit()
