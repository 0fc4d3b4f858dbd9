"""Data for the lab's hosts (every host of inventories/lab.py is in group "lab").

Only what must differ from production: the lab's own mail relay, a short Monit cycle,
and the permission for the host tests to break these hosts on purpose.
"""

# Throwaway hosts: tests may kill services, flood the site, run away with the CPU.
disposable = True

# The lab's mail sink on mon1 (lab/mailsink.py): plain SMTP on the lab's own network.
mail = {
    "relay": "mon1",
    "port": 25,
    "security": "none",
    "sender": "holdfast@example.com",
    "username_env": None,
    "password_env": None,
}

# Monit checks every 5 s so the host tests see restarts and alerts within seconds.
monit = {
    "cycle": "5s",
    "start_delay": 0,
}

# Findings of the single-point-of-failure audit accepted in the lab, with the reason.
audit = {
    "acknowledged": {
        "admin-keys": "lab hosts are throwaway; they are reached only with the key the lab generates",
    },
}
