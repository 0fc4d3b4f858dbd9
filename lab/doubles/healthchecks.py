"""A double of Healthchecks.io, from its published documentation
(https://healthchecks.io/docs/api/, Management API v3, and /docs/http_api/, the Pinging
API).

Management API under ``/api/v3``: ``X-Api-Key`` header (or ``api_key`` in a JSON body);
``GET /checks/`` (``?tag=``, ``?slug=`` filters) answers ``{"checks": [...]}`` with no
pagination; ``POST /checks/`` creates (201) or, with ``unique``, updates the matching
check (200); ``POST /checks/<uuid>`` updates; ``DELETE /checks/<uuid>`` answers the
deleted check; ``POST /checks/<uuid>/pause`` sets its status to "paused" and answers
the check; ``GET /channels/`` answers ``{"channels": [{"id", "name", "kind"}]}``.
Checks read back with the read-write key carry ``ping_url`` and ``update_url`` but no
``uuid`` field; ``tags`` is a space-separated string, ``channels`` a comma-separated one.
Pinging API under ``/ping``: ``/<uuid>`` or ``/<ping key>/<slug>``, HEAD, GET or POST,
answering "OK", "not found" (404) or, for a slug that several checks share,
"ambiguous slug" (409); a ping resumes a paused check unless its ``manual_resume`` is
set. The documentation names no 429 for these APIs; the double can
still be told to send one (Double.rate_limit), as any HTTP service may.

Alerting (/docs/, "Concepts", and /docs/configuring_checks/): a check is up once pinged,
late when no ping came within its period (``timeout``), and down when the grace time
(``grace``) has passed as well; a paused check never goes down. A check going down, and
a ping bringing a down check back up, notifies each integration of the check once (the
service's ``sendalerts`` loop, here a thread passing every half second): the double
records what it would send as ``notifications``.
"""

import copy
import re
import threading
import time
import uuid as uuids
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lab.doubles import Answer, Double

FIELDS = {
    "name": str, "slug": str, "tags": str, "desc": str, "timeout": int, "grace": int, "schedule": str,
    "tz": str, "manual_resume": bool, "methods": str, "channels": str, "start_kw": str, "success_kw": str,
    "failure_kw": str, "filter_subject": bool, "filter_body": bool, "subject": str, "subject_fail": str,
}
UNIQUE_FIELDS = ("name", "slug", "tags", "timeout", "grace")
CHECK_LIMIT = 20  # a free account's
SENDALERTS_EVERY = 0.5  # seconds


@dataclass(frozen=True)
class Notification:
    """What Healthchecks.io sends one integration when a check goes down or back up."""

    at: float  # the double's clock (time.time())
    check: str  # the check's name
    status: str  # "down" or "up"
    channel: str  # the integration's name


class HealthchecksDouble(Double):
    def __init__(self, key: str, ping_key: str = "lab-ping-key", address: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.time):
        super().__init__(address, port)
        self.key = key
        self.ping_key = ping_key
        self.clock = clock
        self.checks: dict[str, dict] = {}
        self.channels: list[dict] = []
        self.notifications: list[Notification] = []
        self._pinged_at: dict[str, float] = {}  # by check UUID
        self._stop = threading.Event()
        self._sendalerts = threading.Thread(target=self._send_alerts_until_stopped, daemon=True)

    def __enter__(self):
        super().__enter__()
        self._sendalerts.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._sendalerts.join()
        super().__exit__(*exc)

    def send_alerts(self) -> None:
        """One pass of the service's alert loop: every check up but not pinged within its
        timeout and grace goes down, and its integrations are notified."""
        with self.lock:
            now = self.clock()
            for check_uuid, check in self.checks.items():
                pinged_at = self._pinged_at.get(check_uuid)
                if check["status"] == "up" and pinged_at is not None \
                        and now > pinged_at + check["timeout"] + check["grace"]:
                    check["status"] = "down"
                    self._notify(check, now)

    def _send_alerts_until_stopped(self) -> None:
        while not self._stop.wait(SENDALERTS_EVERY):
            self.send_alerts()

    def _notify(self, check: dict, now: float) -> None:
        names = {channel["id"]: channel["name"] for channel in self.channels}
        self.notifications += [Notification(now, check["name"], check["status"], names[identifier])
                               for identifier in filter(None, check["channels"].split(","))]

    # --- set-up helpers for the tests -------------------------------------------------

    def add_channel(self, name: str, kind: str = "email") -> str:
        channel = {"id": str(uuids.uuid4()), "name": name, "kind": kind}
        self.channels.append(channel)
        return channel["id"]

    def add_check(self, **fields) -> dict:
        """A check as someone made it in the dashboard."""
        with self.lock:
            answer = self._create(fields)
        assert answer.status == 201, answer.body
        return self.checks[answer.body["update_url"].rsplit("/", 1)[-1]]

    def pings_of(self, slug: str) -> list:
        """The successful pings of a check, by its slug URL (each a Request, with its client)."""
        return [request for request in self.requests
                if request.path == f"/ping/{self.ping_key}/{slug}" and request.status == 200]

    # --- the APIs -------------------------------------------------------------------

    def is_api(self, path: str) -> bool:
        return path.startswith("/api/")

    def answer(self, method, path, query, body, headers) -> Answer:
        if path.startswith("/ping/"):
            return self._ping(path.removeprefix("/ping/").strip("/").split("/"))
        if not path.startswith("/api/v3/"):
            return Answer(404, {"error": "not found"})
        key = headers.get("X-Api-Key") or (body.get("api_key") if isinstance(body, dict) else None)
        if not key:
            return Answer(401, {"error": "missing api key"})
        if key != self.key:
            return Answer(401, {"error": "wrong api key"})
        if isinstance(body, dict):
            body = {name: value for name, value in body.items() if name != "api_key"}
        parts = path.removeprefix("/api/v3/").strip("/").split("/")
        if parts == ["channels"] and method == "GET":
            return Answer(200, {"channels": copy.deepcopy(self.channels)})
        if parts == ["checks"] and method == "GET":
            found = [check for check in self.checks.values()
                     if ("tag" not in query or query["tag"] in check["tags"].split())
                     and ("slug" not in query or query["slug"] == check["slug"])]
            return Answer(200, {"checks": [self._public(check) for check in found]})
        if parts == ["checks"] and method == "POST":
            return self._create(body or {})
        if len(parts) == 3 and parts[0] == "checks" and parts[2] == "pause" and method == "POST":
            check = self.checks.get(parts[1])
            if check is None:
                return Answer(404, {"error": "not found"})
            check["status"] = "paused"
            return Answer(200, self._public(check))
        if len(parts) == 2 and parts[0] == "checks" and method in ("GET", "POST", "DELETE"):
            check = self.checks.get(parts[1])
            if check is None:
                return Answer(404, {"error": "not found"})
            if method == "GET":
                return Answer(200, self._public(check))
            if method == "DELETE":
                return Answer(200, self._public(self.checks.pop(parts[1])))
            problem = self._invalid(body or {})
            if problem:
                return Answer(400, {"error": problem})
            self._set(check, body or {})
            return Answer(200, self._public(check))
        return Answer(405 if parts and parts[0] in ("checks", "channels") else 404, {"error": "not found"})

    def _create(self, body: dict) -> Answer:
        problem = self._invalid(body, creating=True)
        if problem:
            return Answer(400, {"error": problem})
        unique = body.get("unique") or []
        if unique:
            matches = [check for check in self.checks.values()
                       if all(check.get(field) == body.get(field, "") for field in unique)]
            if matches:
                self._set(matches[0], body)
                return Answer(200, self._public(matches[0]))
        if len(self.checks) >= CHECK_LIMIT:
            return Answer(403, {"error": "check limit reached"})
        check_uuid = str(uuids.uuid4())
        self.checks[check_uuid] = {
            "uuid": check_uuid, "name": "", "slug": "", "tags": "", "desc": "", "grace": 3600, "timeout": 86400,
            "n_pings": 0, "status": "new", "last_ping": None, "manual_resume": False, "methods": "", "channels": "",
        }
        self._set(self.checks[check_uuid], body)
        return Answer(201, self._public(self.checks[check_uuid]))

    def _invalid(self, body: dict, creating: bool = False) -> str:
        if not isinstance(body, dict):
            return "json validation error: the body must be an object"
        for name, value in body.items():
            if name == "unique" and creating:
                if not isinstance(value, list) or any(field not in UNIQUE_FIELDS for field in value):
                    return "json validation error: unique has unexpected value"
            elif name not in FIELDS:
                return f"json validation error: unexpected field {name}"
            elif not isinstance(value, FIELDS[name]) or isinstance(value, bool) != (FIELDS[name] is bool):
                return f"json validation error: {name} has the wrong type"
        for name in ("timeout", "grace"):
            if name in body and not 60 <= body[name] <= 31536000:
                return f"json validation error: {name} is out of range (60 to 31536000)"
        if "slug" in body and not re.fullmatch(r"[a-z0-9_-]*", body["slug"]):
            return "json validation error: slug does not match pattern"
        if "channels" in body and body["channels"] not in ("", "*"):
            known = {channel["id"] for channel in self.channels} | {channel["name"] for channel in self.channels}
            if any(identifier not in known for identifier in body["channels"].split(",")):
                return "invalid channel identifier"
        return ""

    def _set(self, check: dict, body: dict) -> None:
        for name, value in body.items():
            if name == "channels":
                by_name = {channel["name"]: channel["id"] for channel in self.channels}
                everything = [channel["id"] for channel in self.channels]
                chosen = everything if value == "*" else [by_name.get(each, each) for each in value.split(",") if each]
                check["channels"] = ",".join(chosen)
            elif name != "unique":
                check[name] = value

    def _public(self, check: dict) -> dict:
        """The check as the read-write key reads it."""
        public = {name: value for name, value in check.items() if name != "uuid"}
        api = f"{self.url}/api/v3/checks/{check['uuid']}"
        return {**copy.deepcopy(public), "ping_url": f"{self.url}/ping/{check['uuid']}", "update_url": api,
                "pause_url": f"{api}/pause", "resume_url": f"{api}/resume"}

    def _ping(self, parts: list[str]) -> Answer:
        if len(parts) == 1:
            matches = [parts[0]] if parts[0] in self.checks else []
        elif len(parts) == 2 and parts[0] == self.ping_key:
            matches = [check_uuid for check_uuid, check in self.checks.items() if check["slug"] == parts[1]]
        else:
            matches = []
        if not matches:
            return Answer(404, "not found")
        if len(matches) > 1:
            return Answer(409, "ambiguous slug")
        check, was = self.checks[matches[0]], self.checks[matches[0]]["status"]
        check["n_pings"] += 1
        if was != "paused" or not check["manual_resume"]:
            check["status"] = "up"
        now = self.clock()
        self._pinged_at[matches[0]] = now
        check["last_ping"] = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        if was == "down" and check["status"] == "up":
            self._notify(check, now)
        return Answer(200, "OK")
