"""Remove Holdfast from a host and put back what was there before it (`make uninstall HOST=web2`):

    pyinfra -y inventories/prod.py uninstall.py --limit web2

Each configuration's originals go back validated by the service's own checker, Holdfast's
units stop, the packages it installed are purged and its hosted monitors of the host are
deleted (holdfast/uninstall.py). The deploy lock is held meanwhile. Take the host out of
the inventory afterwards, or the next deploy puts Holdfast back.
"""

from holdfast.deploy_lock import release_deploy_lock, take_deploy_lock
from holdfast.uninstall import deploy_uninstall

take_deploy_lock()
deploy_uninstall()
release_deploy_lock()
