"""UptimeRobot: one keyword monitor per site, alerting the escalation plan's contacts.

API v3 (REST, ``Authorization: Bearer <main API key>``, JSON, cursor pagination through
``nextLink``): ``GET /monitors``, ``POST /monitors``, ``PATCH /monitors/{id}``,
``DELETE /monitors/{id}``, ``GET /alert-contacts``; for a maintenance window on a host,
``GET``/``POST /maintenance-windows`` and ``DELETE /maintenance-windows/{id}``. A monitor is Holdfast's when it
carries the ``hosted_monitors.tag`` tag. The monitor fetches the site's content page
(``public_url`` + ``content_path``) every ``interval`` and alerts when ``content_expect``
is missing; each contact of the escalation plan is alerted ``escalate_after`` into the
outage (UptimeRobot's per-contact threshold), through the UptimeRobot alert contact of
the same address (create and verify those in UptimeRobot: Holdfast only assigns them).
"""

import math
import re
import urllib.parse
from datetime import datetime
from zoneinfo import ZoneInfo

from holdfast.loading import same_on_every_host
from holdfast.providers.api import Api
from holdfast.providers.model import Change, Existing, Wanted, recipients
from holdfast.settings import HostedMonitors, HostSettings

NAME = "UptimeRobot"
PAGE_SIZE = 50
# The alert contact type that reaches a contact on each escalation channel (chat: none).
CONTACT_TYPES = {"email": "Email", "sms": "ProSms", "phone": "Voice"}
# Written as names, read back as numbers.
KEYWORD_CASE = {0: "CaseSensitive", 1: "CaseInsensitive"}
# The name of a maintenance window Holdfast opens on a host begins so (with the host's
# name): the window's end finds the host's windows by it.
WINDOW_PREFIX = "holdfast maintenance of "


def connect(hosted: HostedMonitors, key: str) -> Api:
    return Api(NAME, hosted.uptimerobot.api_url, {"Authorization": f"Bearer {key}"},
               hosted.request_timeout, hosted.max_wait)


def wanted(api: Api, fleet: dict[str, HostSettings], hosted: HostedMonitors) -> tuple[list[Wanted], list[str]]:
    """One keyword monitor per site the inventory serves, and notes on contacts it cannot alert."""
    contacts = {
        (contact.get("type"), _address(contact.get("value") or "")): int(contact["id"])
        for contact in _every(api, "/alert-contacts", "list alert contacts")
    }
    monitors, notes = [], []
    for name, (site, escalation) in sorted(_sites(fleet).items()):
        assigned: dict[int, dict] = {}
        for recipient in recipients(escalation):
            kind = CONTACT_TYPES.get(recipient.channel)
            if kind is None:
                continue
            contact_id = contacts.get((kind, _address(recipient.address)))
            if contact_id is None:
                notes.append(f"no {kind} alert contact for {recipient.address} ({recipient.contact}, "
                             f"{recipient.channel}): add and verify it in UptimeRobot")
                continue
            assigned.setdefault(contact_id, {"alertContactId": contact_id,
                                             "threshold": recipient.delay // 60, "recurrence": 0})
        url = urllib.parse.urljoin(site.public_url, site.content_path)
        monitors.append(Wanted(name, url, {
            "friendlyName": name,
            "url": url,
            "type": "KEYWORD",
            "interval": hosted.uptimerobot.interval,
            "keywordType": "ALERT_NOT_EXISTS",
            "keywordCaseType": KEYWORD_CASE[0],
            "keywordValue": site.content_expect,
            "assignedAlertContacts": sorted(assigned.values(), key=lambda contact: contact["alertContactId"]),
        }))
    return monitors, list(dict.fromkeys(notes))


def existing(api: Api, hosted: HostedMonitors) -> list[Existing]:
    return [_existing(monitor, hosted.tag) for monitor in _every(api, "/monitors", "list monitors")]


def create(api: Api, change: Change, hosted: HostedMonitors) -> None:
    api.call("POST", api.url("/monitors"), f"create monitor {change.name!r}",
             {**change.wanted.fields, "tagNames": [hosted.tag]})


def update(api: Api, change: Change, hosted: HostedMonitors) -> None:
    api.call("PATCH", api.url(f"/monitors/{change.existing.id}"), f"update monitor {change.name!r}", change.fields)


def delete(api: Api, change: Change, hosted: HostedMonitors) -> None:
    api.call("DELETE", api.url(f"/monitors/{change.existing.id}"), f"delete monitor {change.name!r}")


def open_window(api: Api, hosted: HostedMonitors, host: str, reason: str, monitors: list[Existing],
                start: datetime, seconds: int) -> int:
    """A one-time maintenance window over ``monitors`` from ``start`` for ``seconds`` (whole
    minutes, rounded up): UptimeRobot checks none of them meanwhile, and the window ends by
    itself. Its start is written in the account's time zone (``uptimerobot.time_zone``),
    which is how UptimeRobot reads it. Its id."""
    local = start.astimezone(ZoneInfo(hosted.uptimerobot.time_zone))
    window = api.call("POST", api.url("/maintenance-windows"), f"create the maintenance window of {host}", {
        "name": f"{WINDOW_PREFIX}{host}: {reason}"[:255],
        "interval": "once",
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M:%S"),
        "duration": math.ceil(seconds / 60),
        "autoAddMonitors": False,
        "monitorIds": sorted(int(monitor.id) for monitor in monitors),
    })
    return int(window["id"])


def host_windows(api: Api, host: str) -> list[dict]:
    """The maintenance windows Holdfast opened on ``host`` that UptimeRobot still holds."""
    return _windows(api, f"{WINDOW_PREFIX}{host}: ")


def maintenance(api: Api, hosted: HostedMonitors) -> list[str]:
    """The maintenance windows of Holdfast's that UptimeRobot holds (a monitor in one reads "up")."""
    return [f"maintenance window {window['id']} {window['name']!r}: from {window.get('date')} {window.get('time')} "
            f"({hosted.uptimerobot.time_zone}) for {window.get('duration')} min, monitors "
            f"{', '.join(str(m) for m in window.get('monitorIds') or [])}" for window in _windows(api, WINDOW_PREFIX)]


def _windows(api: Api, prefix: str) -> list[dict]:
    return [window for window in _every(api, "/maintenance-windows", "list maintenance windows")
            if str(window.get("name", "")).startswith(prefix)]


def close_window(api: Api, window: dict) -> None:
    api.call("DELETE", api.url(f"/maintenance-windows/{window['id']}"),
             f"delete maintenance window {window.get('name')!r}")


def _sites(fleet: dict[str, HostSettings]) -> dict[str, tuple]:
    """Every site of the inventory with the escalation plan of the hosts serving it; hosts
    serving the same site must agree on both."""
    serving: dict[str, dict[str, tuple]] = {}
    for host_name, host_settings in fleet.items():
        for name, site in host_settings.sites.items():
            serving.setdefault(name, {})[host_name] = (site, host_settings.escalation)
    return {
        name: same_on_every_host(by_host, f"sites.{name} (with the escalation plan of the hosts serving it)")
        for name, by_host in serving.items()
    }


def _every(api: Api, path: str, what: str) -> list[dict]:
    """All items of a listing, page after page."""
    items, url = [], api.url(path, limit=PAGE_SIZE)
    while url:
        page = api.get(url, what)
        items += page.get("data") or []
        url = page.get("nextLink") and urllib.parse.urljoin(api.base_url + "/", page["nextLink"])
    return items


def _existing(monitor: dict, tag: str) -> Existing:
    fields = {
        "friendlyName": monitor.get("friendlyName"),
        "url": monitor.get("url"),
        "type": monitor.get("type"),
        "interval": monitor.get("interval"),
        "keywordType": monitor.get("keywordType"),
        "keywordCaseType": KEYWORD_CASE.get(monitor.get("keywordCaseType"), monitor.get("keywordCaseType")),
        "keywordValue": monitor.get("keywordValue"),
        "assignedAlertContacts": sorted(
            (
                {"alertContactId": int(contact["alertContactId"]), "threshold": contact.get("threshold", 0),
                 "recurrence": contact.get("recurrence", 0)}
                for contact in monitor.get("assignedAlertContacts") or []
            ),
            key=lambda contact: contact["alertContactId"],
        ),
    }
    owned = tag in {label.get("name") for label in monitor.get("tags") or []}
    return Existing(str(monitor["id"]), fields["friendlyName"], fields["url"], owned, fields,
                    str(monitor.get("status") or ""))


def _address(value: str) -> str:
    """An address as UptimeRobot and the escalation plan may both write it."""
    return value.lower() if "@" in value else re.sub(r"[^\d+]", "", value)
