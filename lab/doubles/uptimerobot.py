"""A double of UptimeRobot's API v3, from its published documentation
(https://uptimerobot.com/api/v3/ and the v3 announcement): REST under ``/v3``, JSON,
``Authorization: Bearer <key>``, cursor pagination (``limit``, ``cursor``; each page is
``{"data": [...], "nextLink": <URL of the next page> | null}``), ``429`` with
``Retry-After`` when rate limited.

Monitors carry ``tags`` (``[{"id", "name", "color"}]``, set with ``tagNames``) and
``assignedAlertContacts`` (``[{"alertContactId", "threshold", "recurrence"}]``); the
keyword case is written as a name and read back as a number. Bodies are validated the
way the API's validator does: unknown properties and missing required ones are a 400.
Not in the documentation, so chosen here: a duplicate (same type and URL) is a 409, a
create answers 201 and a delete 200 with the deleted monitor.

Maintenance windows (``/maintenance-windows``, a paid plan's): ``name``, ``interval``
(once, daily, weekly, monthly), ``time`` (HH:MM:SS), ``duration`` (minutes, at least 1),
``date`` (YYYY-MM-DD, for a window ``once``), ``days``, ``monitorIds``,
``autoAddMonitors``; read back with ``status`` "active"; a delete answers 204 without a
body. UptimeRobot reads ``date`` and ``time`` in the account's time zone (its Account
Settings), which the double is given (``time_zone``); ``covering`` says which windows
keep a monitor unchecked at a moment.
"""

import copy
import itertools
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from lab.doubles import Answer, Double

MONITOR_TYPES = ("HTTP", "KEYWORD", "PING", "PORT", "HEARTBEAT")
KEYWORD_TYPES = ("ALERT_EXISTS", "ALERT_NOT_EXISTS")
KEYWORD_CASES = {"CaseSensitive": 0, "CaseInsensitive": 1}
WINDOW_INTERVALS = ("once", "daily", "weekly", "monthly")
WINDOW_WRITABLE = {"name", "interval", "date", "time", "duration", "days", "autoAddMonitors", "monitorIds"}
WRITABLE = {
    "friendlyName", "url", "type", "interval", "timeout", "keywordType", "keywordCaseType", "keywordValue",
    "assignedAlertContacts", "tagNames", "httpMethodType", "successHttpResponseCodes", "followRedirections",
}


class UptimeRobotDouble(Double):
    def __init__(self, key: str, address: str = "127.0.0.1", port: int = 0, page_size: int = 50,
                 time_zone: str = "UTC"):
        super().__init__(address, port)
        self.key = key
        self.page_size = page_size  # the most items a page holds, whatever the limit asked
        self.time_zone = ZoneInfo(time_zone)  # the account's, in which it reads a window's start
        self.monitors: dict[int, dict] = {}
        self.contacts: dict[int, dict] = {}
        self.windows: dict[int, dict] = {}
        self._ids = itertools.count(800000001)
        self._tag_ids = itertools.count(1)

    # --- set-up helpers for the tests -------------------------------------------------

    def add_contact(self, kind: str, value: str, name: str = "") -> int:
        contact_id = next(self._ids)
        self.contacts[contact_id] = {"id": contact_id, "friendlyName": name or value, "type": kind,
                                     "value": value, "status": "Active"}
        return contact_id

    def add_monitor(self, **fields) -> dict:
        """A monitor as someone made it in the dashboard (no Holdfast tag unless given)."""
        with self.lock:
            answer = self._create({"type": "HTTP", "interval": 300, **fields})
        assert answer.status == 201, answer.body
        return self.monitors[answer.body["id"]]

    def covering(self, monitor_id: int, at: datetime) -> list[dict]:
        """The one-time windows that keep ``monitor_id`` unchecked at ``at``."""
        covering = []
        for window in self.windows.values():
            if window["interval"] != "once" or int(monitor_id) not in window["monitorIds"]:
                continue
            start = datetime.fromisoformat(f"{window['date']}T{window['time']}").replace(tzinfo=self.time_zone)
            if start <= at < start + timedelta(minutes=window["duration"]):
                covering.append(window)
        return covering

    # --- the API ------------------------------------------------------------------------

    def is_api(self, path: str) -> bool:
        return path.startswith("/v3/")

    def answer(self, method, path, query, body, headers) -> Answer:
        if headers.get("Authorization") != f"Bearer {self.key}":
            return Answer(401, {"message": "Unauthorized: invalid or missing API key"})
        parts = path.rstrip("/").split("/")[2:]
        if parts == ["monitors"] and method == "GET":
            return self._page(self.monitors, "monitors", query)
        if parts == ["alert-contacts"] and method == "GET":
            return self._page(self.contacts, "alert-contacts", query)
        if parts == ["monitors"] and method == "POST":
            return self._create(body)
        if parts == ["maintenance-windows"] and method == "GET":
            return self._page(self.windows, "maintenance-windows", query)
        if parts == ["maintenance-windows"] and method == "POST":
            return self._create_window(body)
        if len(parts) == 2 and parts[0] == "maintenance-windows" and method in ("GET", "DELETE"):
            window = self.windows.get(int(parts[1])) if parts[1].isdigit() else None
            if window is None:
                return Answer(404, {"message": "Maintenance window not found", "code": "000-004"})
            if method == "GET":
                return Answer(200, copy.deepcopy(window))
            del self.windows[window["id"]]
            return Answer(204)
        if len(parts) == 2 and parts[0] == "monitors" and method in ("GET", "PATCH", "DELETE"):
            monitor = self.monitors.get(int(parts[1])) if parts[1].isdigit() else None
            if monitor is None:
                return Answer(404, {"message": "Monitor not found"})
            if method == "GET":
                return Answer(200, copy.deepcopy(monitor))
            if method == "DELETE":
                return Answer(200, self.monitors.pop(monitor["id"]))
            return self._update(monitor, body)
        return Answer(404, {"message": f"Cannot {method} {path}"})

    def _page(self, items: dict[int, dict], resource: str, query: dict) -> Answer:
        limit = min(int(query.get("limit", self.page_size)), self.page_size)
        after = int(query.get("cursor", 0))
        ids = sorted(item_id for item_id in items if item_id > after)
        page = ids[:limit]
        next_link = f"{self.url}/v3/{resource}?limit={limit}&cursor={page[-1]}" if len(ids) > limit else None
        return Answer(200, {"data": [copy.deepcopy(items[item_id]) for item_id in page], "nextLink": next_link})

    def _create(self, body) -> Answer:
        problems = self._invalid(body, required=("friendlyName", "url", "type", "interval"))
        if problems:
            return Answer(400, {"message": problems})
        if any(m["url"] == body["url"] and m["type"] == body["type"] for m in self.monitors.values()):
            return Answer(409, {"message": f"A {body['type']} monitor for {body['url']} already exists"})
        monitor_id = next(self._ids)
        self.monitors[monitor_id] = {
            "id": monitor_id, "status": "STARTED", "timeout": 30, "keywordType": None, "keywordValue": "",
            "keywordCaseType": 0, "assignedAlertContacts": [], "tags": [],
        }
        self._set(self.monitors[monitor_id], body)
        return Answer(201, copy.deepcopy(self.monitors[monitor_id]))

    def _create_window(self, body) -> Answer:
        if not isinstance(body, dict):
            return Answer(400, {"message": ["the body must be a JSON object"]})
        problems = [f"property {key} should not exist" for key in body if key not in WINDOW_WRITABLE]
        if not str(body.get("name") or "").strip() or len(str(body["name"])) > 255:
            problems.append("name must be shorter than or equal to 255 characters and not empty")
        if body.get("interval") not in WINDOW_INTERVALS:
            problems.append(f"interval must be one of the following values: {', '.join(WINDOW_INTERVALS)}")
        if not re.fullmatch(r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d", str(body.get("time"))):
            problems.append("time must match /^(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d$/ regular expression")
        if not (isinstance(body.get("duration"), int) and body["duration"] >= 1):
            problems.append("duration must not be less than 1")
        if body.get("interval") == "once" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(body.get("date"))):
            problems.append("date must be a date (YYYY-MM-DD) for a window once")
        problems += [f"monitor {monitor_id} not found" for monitor_id in body.get("monitorIds") or []
                     if int(monitor_id) not in self.monitors]
        if problems:
            return Answer(400, {"message": problems, "error": "Bad Request", "statusCode": 400})
        window_id = next(self._ids)
        self.windows[window_id] = {
            "id": window_id, "date": None, "days": [], "autoAddMonitors": False, "status": "active",
            **copy.deepcopy(body), "monitorIds": [int(m) for m in body.get("monitorIds") or []],
        }
        return Answer(201, copy.deepcopy(self.windows[window_id]))

    def _update(self, monitor: dict, body) -> Answer:
        problems = self._invalid(body, required=())
        if problems:
            return Answer(400, {"message": problems})
        self._set(monitor, body)
        return Answer(200, copy.deepcopy(monitor))

    def _invalid(self, body, required) -> str:
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        problems = [f"property {key} should not exist" for key in body if key not in WRITABLE]
        problems += [f"{key} should not be empty" for key in required if body.get(key) in (None, "")]
        if "type" in body and body["type"] not in MONITOR_TYPES:
            problems.append(f"type must be one of the following values: {', '.join(MONITOR_TYPES)}")
        if "interval" in body and not (isinstance(body["interval"], int) and body["interval"] >= 30):
            problems.append("interval must not be less than 30")
        if body.get("type") == "KEYWORD":
            if body.get("keywordType") not in KEYWORD_TYPES:
                problems.append(f"keywordType must be one of the following values: {', '.join(KEYWORD_TYPES)}")
            if not body.get("keywordValue"):
                problems.append("keywordValue should not be empty")
        if "keywordCaseType" in body and body["keywordCaseType"] not in KEYWORD_CASES:
            problems.append(f"keywordCaseType must be one of the following values: {', '.join(KEYWORD_CASES)}")
        for contact in body.get("assignedAlertContacts") or []:
            if set(contact) != {"alertContactId", "threshold", "recurrence"}:
                problems.append("assignedAlertContacts items need alertContactId, threshold and recurrence")
            elif int(contact["alertContactId"]) not in self.contacts:
                problems.append(f"alert contact {contact['alertContactId']} not found")
        return "; ".join(problems)

    def _set(self, monitor: dict, body: dict) -> None:
        for key, value in body.items():
            if key == "tagNames":
                monitor["tags"] = [{"id": next(self._tag_ids), "name": name, "color": None} for name in value]
            elif key == "keywordCaseType":
                monitor[key] = KEYWORD_CASES[value]
            elif key == "assignedAlertContacts":
                monitor[key] = [{**contact, "alertContactId": int(contact["alertContactId"])} for contact in value]
            else:
                monitor[key] = value
