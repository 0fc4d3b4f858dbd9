"""Put a configuration's last good files back (`make rollback HOST=web1 CONFIG=nginx`):

    pyinfra -y inventories/prod.py rollback.py --limit web1 --data rollback=nginx

The last good files are the ones the last deploy's swap replaced on that host; its checker
validates them first and the swap's own reload follows (holdfast/safe_config.py). A second
rollback undoes the first; the next deploy puts group_data's version back. The deploy lock
is held meanwhile.
"""

import re

from pyinfra import host

from holdfast.deploy_lock import release_deploy_lock, take_deploy_lock
from holdfast.safe_config import rollback_config

config = host.data.get("rollback") or ""
if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", config):
    raise SystemExit(f"rollback.py: rollback={config!r}: expected the name of a configuration (CONFIG=<name>), "
                     "e.g. nginx, monit, php8.2-fpm, slices, prometheus, alertmanager")
if config.startswith("firewall"):
    raise SystemExit("rollback.py: the firewall rolls itself back (its ruleset is restored by the host when a "
                     "change cuts SSH); to go back, deploy the previous group_data")

take_deploy_lock()
rollback_config(name=f"Put {config}'s last good files back", config=config)
release_deploy_lock()
