"""Production: the company's hosts. Connection details only; what to put on them is in
group_data/. Deploy: `pyinfra inventories/prod.py deploy.py`; verify read-only:
`make verify INVENTORY=inventories/prod.py`."""

_deploy_user = {"ssh_user": "deploy", "_sudo": True}

web = [
    ("web1.example.com", _deploy_user),
    ("web2.example.com", _deploy_user),
]
monitors = [
    ("mon1.example.net", _deploy_user),
]
