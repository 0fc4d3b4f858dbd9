"""Data for every host: the escalation plan and the relay alert mail goes through.

Every key Holdfast reads, with its default and expected form, is in docs/settings.md
(generated from holdfast/settings.py). Names starting with "_" are ignored by Holdfast;
keys another pyinfra package reads are declared by pattern, e.g.
``other_packages_keys = ["docker_*"]``; any other key Holdfast does not know stops the deploy.
"""

# Who is alerted, in what order, on which channel: the one list of recipients.
escalation = {
    "contacts": {
        "alice": {
            "name": "Alice Martin",
            "role": "lead developer",
            "email": "alice@example.com",
            "phone": "+44 20 7946 0101",
            "chat": "@alice:example.com",
        },
        "bob": {
            "name": "Bob Okafor",
            "role": "operations engineer",
            "email": "bob@example.com",
            "phone": "+44 20 7946 0102",
            "chat": "@bob:example.com",
        },
        "carol": {
            "name": "Carol Diaz",
            "role": "CTO",
            "email": "carol@example.com",
            "phone": "+44 20 7946 0103",
        },
        "acme": {
            "name": "Acme Hosting on-call desk",
            "role": "hosting contractor",
            "email": "oncall@acme-hosting.example",
            "phone": "+44 20 7946 0199",
            "internal": False,
        },
    },
    "tiers": [
        {"name": "tier1", "members": ["alice", "bob"], "channels": ["email", "chat"]},
        {"name": "tier2", "members": ["carol", "acme"], "channels": ["email", "phone"], "escalate_after": "15m"},
    ],
    # How the external monitor delivers each channel besides email (docs/settings.md:
    # escalation.providers): chat through a Slack-compatible incoming webhook (or ntfy),
    # phone through PagerDuty's Events API. Their secrets come from the deploy's environment.
    "providers": {
        "chat": {"provider": "slack", "secret_env": "HOLDFAST_SLACK_WEBHOOK"},
        "phone": {"provider": "pagerduty", "secret_env": "HOLDFAST_PAGERDUTY_ROUTING_KEY"},
    },
}

# The SMTP relay; its user name and password come from HOLDFAST_SMTP_USER and
# HOLDFAST_SMTP_PASSWORD in the environment of the deploy, never from this repository.
mail = {
    "relay": "smtp.example.com",
    "port": 587,
    "security": "starttls",
    "sender": "holdfast@example.com",
}

# Hosted monitors (UptimeRobot, Healthchecks.io) and the hosts' heartbeats work with their
# defaults (docs/settings.md: hosted_monitors, heartbeat); the API keys come from
# HOLDFAST_UPTIMEROBOT_API_KEY, HOLDFAST_HEALTHCHECKS_API_KEY and the ping key from
# HOLDFAST_HEALTHCHECKS_PING_KEY, never from this repository. hosted_monitors must be the
# same for every host, so it belongs here if anywhere.
