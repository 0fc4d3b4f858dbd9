"""Data for the lab's hosts (every host of inventories/lab.py is in group "lab").

Only what must differ from production: the lab's own mail relay, its "office" address, the
site's service address, the stand-ins of the hosted monitors, short Monit and monitor
intervals, what the lab's firewall lets in, and the permission for the host tests to break
these hosts on purpose.
"""

import runpy as _runpy
from pathlib import Path as _Path

from pydantic import TypeAdapter as _TypeAdapter
from pydantic import ValidationError as _ValidationError

from holdfast.forms import Duration as _Duration
from lab import acme as lab_acme
from lab.topology import LAB

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

# Production's escalation plan, every wait at most 90 s (the host tests see tier 2 paged
# within minutes), and the chat and phone providers' doubles (lab/doubles/, served on the
# lab bridge by tests/host/test_channels.py). Their lab secrets come from
# HOLDFAST_LAB_CHAT_KEY and HOLDFAST_LAB_PAGERDUTY_KEY (the Makefile sets them).
_production = _runpy.run_path(str(_Path(__file__).with_name("all.py")))["escalation"]
_LAB_WAIT = 90


def _lab_tier(tier):
    """Production's tier waiting at most _LAB_WAIT seconds. A wait that is no duration stays
    as it is: validation reports it, naming group_data/all.py (holdfast/loading.py)."""
    try:
        wait = _TypeAdapter(_Duration).validate_python(tier["escalate_after"])
        return {**tier, "escalate_after": min(wait, _LAB_WAIT)}
    except (TypeError, KeyError, _ValidationError):
        return tier


escalation = {
    **_production,
    "tiers": [_lab_tier(tier) for tier in _production["tiers"]],
    "providers": {
        "chat": {"provider": "slack", "url": f"http://{LAB.bridge_address}:8472/services",
                 "secret_env": "HOLDFAST_LAB_CHAT_KEY"},
        "phone": {"provider": "pagerduty", "url": f"http://{LAB.bridge_address}:8473/v2/enqueue",
                  "secret_env": "HOLDFAST_LAB_PAGERDUTY_KEY"},
    },
}

# Local doubles of UptimeRobot and Healthchecks.io, which the host tests run on this
# machine's address on the lab bridge (lab/doubles/).
_doubles = f"http://{LAB.bridge_address}"

# The external monitor, fast enough for tests to see an alert mail within a minute. Its
# Watchdog heartbeat calls the Healthchecks.io double (a check's ping URL there), which
# records the call for the host test that waits for it.
monitoring = {
    "watchdog_url": f"{_doubles}:8471/ping/00000000-0000-4000-8000-00000000d09d",
    "watchdog_interval": "10s",
    "scrape_interval": "5s",
    "evaluation_interval": "5s",
    "probe_timeout": "4s",
    "failed_probes": 2,
    "slow_response": "2s",
    "host_down_after": "15s",
    "group_wait": "5s",
    "group_interval": "10s",
    "repeat_interval": "1h",
    "extra_rules": [
        {
            "name": "DiskAlmostFull",
            "expr": 'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes < 0.1',
            "after": "10m",
            "summary": "{{ $labels.mountpoint }} on {{ $labels.host }} has less than 10% free space.",
        },
    ],
}

# Certificates from the lab's own ACME CA (pebble on mon1, lab/acme.py), never Let's Encrypt.
acme = {
    "email": "webmaster@example.com",
    "directory_url": lab_acme.directory_url(),
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

# The lab's "office": an address on the lab's bridge (lab/topology.py), never limited.
# (This replaces the whole `edge` of group_data/web.py for the lab's hosts.) Bans come
# sooner and end sooner than in production, and only for a flood that lasts (the drill's
# abuser): the tests' own short floods of a limit, from one address, one after another,
# must each still meet the limit, not the firewall.
edge = {
    "allow": [LAB.client_addresses["office"]],
    "bans": {"refused": 100, "within": "10s", "ban": "20s", "longest": "1m"},
}

# The hosted monitors are the doubles too. The ping key is a lab one, from
# HOLDFAST_LAB_PING_KEY (the Makefile sets it), never the production project's.
hosted_monitors = {
    "uptimerobot": {"api_url": f"{_doubles}:8470/v3"},
    "healthchecks": {
        "api_url": f"{_doubles}:8471/api/v3",
        "ping_url": f"{_doubles}:8471/ping",
        "ping_key_env": "HOLDFAST_LAB_PING_KEY",
    },
}
# Often, so that the tests see pings within seconds; the shortest period and grace
# Healthchecks.io takes, so that a host that stops pinging is reported down within about
# two minutes (tests/host/test_heartbeat.py).
heartbeat = {"every": "10s", "timeout": "1m", "grace": "1m"}

# The firewall (holdfast/firewall.py). What the tests reach is open by the policy itself:
# ssh from everywhere (this machine deploys from the bridge address), the sites from every
# client address, node_exporter from mon1 (Prometheus scrapes, blackbox probes the sites).
# The doubles of the hosted monitors run on this machine: the hosts call out to them, and
# outbound traffic is not filtered. Only the services on mon1 need openings of their own:
# SMTP from the web hosts (Monit's alert mail), and the lab's ACME CA (lab/acme.py). A
# short rollback window, so the test that cuts the deploy's own ssh waits little.
firewall = {
    "allow": [
        {"port": 25, "sources": [web.address for web in LAB.group("web")], "why": "mail to the lab's sink"},
        {"port": lab_acme.ACME_PORT, "sources": [web.address for web in LAB.group("web")],
         "why": "certbot to the lab's ACME CA (pebble)"},
        {"port": lab_acme.MANAGEMENT_PORT, "sources": [*(host.address for host in LAB.hosts), LAB.bridge_address],
         "why": "the roots the lab's ACME CA issues from, for every lab host and the tests"},
    ],
    "rollback_after": "20s",
}

# The site's service address (holdfast/failover.py), in the lab's subnet: held by web1
# (the highest priority), taken over by web2 within seconds when web1 or its site fails.
# web1 takes it back 60 s after it is healthy again (production waits 5 minutes). A lab of
# one web host has nowhere to move it: failover is off there.
failover = {
    "enabled": LAB.web_hosts > 1,
    "network": str(LAB.subnet),
    "interface": "host0",  # the hosts' end of the lab bridge (systemd-nspawn's name)
    "peers": {
        # 2 apart: 150 down to 52 at the lab's most web hosts (50; the bench runs 20).
        web.name: {"address": web.address, "priority": 150 - 2 * index}
        for index, web in enumerate(LAB.group("web"))
    },
    "sites": {"shop": {"address": LAB.service_address, "router_id": 51}},
    # WordPress's uploads (lab/wordpress.py) copied from web1 to web2 every 5 s (holdfast/copies.py).
    "copied": ["/usr/share/wordpress/wp-content/uploads"],
    "copy_every": "5s",
    # web1's MariaDB takes the writes; web2's replicates it, read-only (holdfast/replication.py).
    "database": {"primary": LAB.group("web")[0].name, "password_env": "HOLDFAST_LAB_REPLICATION_PASSWORD"},
    "preempt_delay": "60s",
}
if LAB.web_hosts == 1:
    audit["acknowledged"]["single-host-site"] = "a lab of one web host (HOLDFAST_LAB_WEB_HOSTS=1) on purpose"
