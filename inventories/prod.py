"""Production: the company's hosts. Connection details only; what to put on them is in
group_data/. Check offline first: `make check` (no SSH); then `make deploy
INVENTORY=inventories/prod.py`; verify read-only: `make verify INVENTORY=inventories/prod.py`.

Each host's address is its ssh_hostname (the monitors host's also goes into the web hosts'
allow-lists and firewall; a name there must resolve on the machine that deploys)."""

_deploy_user = {"ssh_user": "deploy", "_sudo": True}

web = [
    ("web1.example.com", {**_deploy_user, "ssh_hostname": "192.0.2.11"}),
    ("web2.example.com", {**_deploy_user, "ssh_hostname": "192.0.2.12"}),
]
monitors = [
    ("mon1.example.net", {**_deploy_user, "ssh_hostname": "198.51.100.10"}),
]
