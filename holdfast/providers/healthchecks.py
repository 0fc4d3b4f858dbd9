"""Healthchecks.io: one heartbeat check per host, the dead-man switch of a host that dies
without a word.

Management API v3 (``X-Api-Key: <read-write key>``, JSON): ``GET /checks/``,
``POST /checks/`` (with ``unique: ["slug"]``, an upsert: a retried create finds the check
it made), ``POST /checks/<uuid>``, ``DELETE /checks/<uuid>``, ``GET /channels/``, and
``POST /checks/<uuid>/pause`` for a maintenance window. A check
is Holdfast's when its tags include ``hosted_monitors.tag``. Its slug is fixed by the tag
and the host name, so the host pings ``<ping_url>/<ping key>/<slug>`` without waiting
for the API to hand out a UUID. Alerts go to the integrations named after an address of
the escalation plan (e.g. an email integration named ``alice@example.com``); Healthchecks.io
alerts at once, so only the tiers with ``escalate_after = 0`` are assigned.
"""

import re

from holdfast.providers.api import Api
from holdfast.providers.model import Change, Existing, Wanted, recipients
from holdfast.settings import HostedMonitors, HostSettings

NAME = "Healthchecks.io"


def slug(tag: str, host_name: str) -> str:
    """The slug of a host's check: what its heartbeat pings."""
    return re.sub(r"[^a-z0-9_-]+", "-", f"{tag}-{host_name}".lower()).strip("-")


def ping_url(hosted: HostedMonitors, ping_key: str, host_name: str) -> str:
    return f"{hosted.healthchecks.ping_url.rstrip('/')}/{ping_key}/{slug(hosted.tag, host_name)}"


def connect(hosted: HostedMonitors, key: str) -> Api:
    return Api(NAME, hosted.healthchecks.api_url, {"X-Api-Key": key}, hosted.request_timeout, hosted.max_wait)


def wanted(api: Api, fleet: dict[str, HostSettings], hosted: HostedMonitors) -> tuple[list[Wanted], list[str]]:
    """One check per host, and notes on contacts it cannot alert."""
    channels = api.get(api.url("/channels/"), "list integrations")["channels"]
    integrations = {channel["name"]: channel["id"] for channel in channels}
    checks, notes, delayed = [], [], set()
    for host_name, host_settings in sorted(fleet.items()):
        assigned = set()
        for recipient in recipients(host_settings.escalation):
            if recipient.delay:
                delayed.add(recipient.contact)
            elif recipient.address in integrations:
                assigned.add(integrations[recipient.address])
            else:
                notes.append(f"no integration named {recipient.address!r} ({recipient.contact}, "
                             f"{recipient.channel}): add it in Healthchecks.io under that name")
        heartbeat = host_settings.heartbeat
        check_slug = slug(hosted.tag, host_name)
        checks.append(Wanted(host_name, check_slug, {
            "name": host_name,
            "slug": check_slug,
            "desc": f"Heartbeat of {host_name} (Holdfast): a ping every {heartbeat.every}s",
            "timeout": heartbeat.timeout,
            "grace": heartbeat.grace,
            "channels": ",".join(sorted(assigned)),
        }))
    if delayed:
        notes.append(f"not alerted of a silent host: {', '.join(sorted(delayed))}, whom the escalation plan "
                     "alerts only after a delay, which Healthchecks.io cannot make")
    return checks, list(dict.fromkeys(notes))


def existing(api: Api, hosted: HostedMonitors) -> list[Existing]:
    return [_existing(check, hosted.tag) for check in api.get(api.url("/checks/"), "list checks")["checks"]]


def create(api: Api, change: Change, hosted: HostedMonitors) -> None:
    api.call("POST", api.url("/checks/"), f"create check {change.name!r}",
             {**change.wanted.fields, "tags": hosted.tag, "unique": ["slug"]})


def update(api: Api, change: Change, hosted: HostedMonitors) -> None:
    api.call("POST", api.url(f"/checks/{change.existing.id}"), f"update check {change.name!r}", change.fields)


def delete(api: Api, change: Change, hosted: HostedMonitors) -> None:
    api.call("DELETE", api.url(f"/checks/{change.existing.id}"), f"delete check {change.name!r}")


def host_check(api: Api, hosted: HostedMonitors, host_name: str) -> Existing | None:
    """Holdfast's check of the host, if there is one (reads)."""
    return next((check for check in existing(api, hosted)
                 if check.owned and check.identity == slug(hosted.tag, host_name)), None)


def pause(api: Api, check: Existing) -> None:
    """Pause ``check`` (``POST /checks/<uuid>/pause``): it alerts of nothing until its next
    ping resumes it."""
    api.call("POST", api.url(f"/checks/{check.id}/pause"), f"pause check {check.name!r}")


def maintenance(api: Api, hosted: HostedMonitors) -> list[str]:
    """Nothing apart: a window's paused check shows as "paused" among the checks."""
    return []


def _existing(check: dict, tag: str) -> Existing:
    fields = {
        "name": check.get("name"),
        "slug": check.get("slug"),
        "desc": check.get("desc"),
        "timeout": check.get("timeout"),
        "grace": check.get("grace"),
        "channels": ",".join(sorted(filter(None, (check.get("channels") or "").split(",")))),
    }
    # The read-write key's answers carry no uuid field: it ends the check's update_url.
    uuid = check["update_url"].rstrip("/").rsplit("/", 1)[-1]
    return Existing(uuid, fields["name"], fields["slug"], tag in (check.get("tags") or "").split(), fields,
                    str(check.get("status") or ""))
