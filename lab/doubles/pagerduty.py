"""A double of PagerDuty's Events API v2, from its published documentation
(https://developer.pagerduty.com/docs/events-api-v2/overview/, "Send an Alert Event",
"Acknowledge and Resolve Events", "Response codes").

``POST /v2/enqueue`` with a JSON event: ``routing_key`` (the integration key, 32
characters), ``event_action`` (``trigger``, ``acknowledge`` or ``resolve``), ``dedup_key``
(optional for a trigger: generated; required otherwise), and for a trigger a ``payload``
with ``summary`` (at most 1024 characters), ``source`` and ``severity`` (``critical``,
``error``, ``warning`` or ``info``), optionally ``custom_details``. Answers 202
``{"status": "success", "message": "Event processed", "dedup_key": ...}``, or 400
``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``.
A trigger for a dedup_key with no open alert opens one: PagerDuty then calls or texts
the people of the service's escalation policy (``calls`` here); a trigger for an open
one is merged into it.
"""

import uuid

from lab.doubles import Answer, Double

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


class PagerDutyDouble(Double):
    def __init__(self, routing_key: str, address: str = "127.0.0.1", port: int = 0):
        super().__init__(address, port)
        self.routing_key = routing_key
        self.alerts: dict[str, dict] = {}  # by dedup_key: status and the payload that opened it
        self.calls: list[dict] = []  # the payload of each trigger that opened an alert

    def answer(self, method, path, query, body, headers) -> Answer:
        if method != "POST" or path != "/v2/enqueue":
            return Answer(404, {"status": "not found"})
        errors = self._errors(body)
        if errors:
            return Answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
        key = body.get("dedup_key") or uuid.uuid4().hex
        action, alert = body["event_action"], self.alerts.get(key)
        if action == "trigger" and (alert is None or alert["status"] == "resolved"):
            self.alerts[key] = {"status": "triggered", "payload": body["payload"]}
            self.calls.append(body["payload"])
        elif action != "trigger" and alert is not None:
            alert["status"] = {"acknowledge": "acknowledged", "resolve": "resolved"}[action]
        return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    def _errors(self, body) -> list[str]:
        if not isinstance(body, dict):
            return ["Event object is not a JSON object"]
        errors = []
        if body.get("routing_key") != self.routing_key or len(self.routing_key) != 32:
            errors.append("'routing_key' is invalid")
        action = body.get("event_action")
        if action not in ACTIONS:
            errors.append("'event_action' is missing or blank" if not action else "'event_action' is invalid")
        if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
            errors.append("'dedup_key' is missing or blank")
        if action == "trigger":
            payload = body.get("payload") if isinstance(body.get("payload"), dict) else {}
            for field in ("summary", "source", "severity"):
                if not payload.get(field):
                    errors.append(f"'payload.{field}' is missing or blank")
            if payload.get("severity") and payload["severity"] not in SEVERITIES:
                errors.append("'payload.severity' is invalid")
            if len(payload.get("summary") or "") > 1024:
                errors.append("'payload.summary' is too long")
        return errors
