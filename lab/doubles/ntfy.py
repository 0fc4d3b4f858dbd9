"""A double of an ntfy server's publishing API, from its published documentation
(https://docs.ntfy.sh/publish/: "Publishing", "Message templating", "Access control").

``POST`` or ``PUT`` to ``/<topic>`` (letters, digits, ``-`` and ``_``, at most 64)
publishes the body as the message; ``t``/``title`` and ``m``/``message`` in the query
(or X-Title, X-Message headers) set the title and message. With ``tpl=1`` (or ``yes``,
or X-Template) the body is JSON and ``t`` and ``m`` are Go templates filled from it;
this double fills ``{{.a.b}}`` and ``{{range .list}}...{{end}}``, the forms Holdfast's
templates use. An access token comes as ``Authorization: Bearer <token>``; a protected
topic without it answers 403 ``{"code": 40301, "http": 403, "error": "forbidden"}``. A
message published answers 200 with the message as JSON (``id``, ``time``, ``event``:
``message``, ``topic``, ``message``, ``title``).
"""

import re
import time
import uuid

from lab.doubles import Answer, Double

TOPIC = re.compile(r"/([-_A-Za-z0-9]{1,64})")
RANGE = re.compile(r"\{\{range \.([\w.]+)\}\}(.*?)\{\{end\}\}", re.S)
FIELD = re.compile(r"\{\{\.([\w.]+)\}\}")


def _lookup(data, path: str):
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def fill(template: str, data) -> str:
    """``template`` filled from ``data`` as Go's templates would (ntfy's "<no value>" for a missing key)."""
    def each(match):
        return "".join(fill(match[2], item) for item in _lookup(data, match[1]) or [])

    def field(match):
        value = _lookup(data, match[1])
        return "<no value>" if value is None else str(value)

    return FIELD.sub(field, RANGE.sub(each, template))


class NtfyDouble(Double):
    def __init__(self, token: str | None = None, address: str = "127.0.0.1", port: int = 0):
        super().__init__(address, port)
        self.token = token
        self.messages: list[dict] = []

    def answer(self, method, path, query, body, headers) -> Answer:
        topic = TOPIC.fullmatch(path)
        if method not in ("POST", "PUT") or not topic:
            return Answer(404, {"code": 40401, "http": 404, "error": "page not found"})
        if self.token and headers.get("Authorization") != f"Bearer {self.token}":
            return Answer(403, {"code": 40301, "http": 403, "error": "forbidden"})
        title = query.get("t") or query.get("title") or headers.get("X-Title") or ""
        message = query.get("m") or query.get("message") or headers.get("X-Message")
        if (query.get("tpl") or query.get("template") or headers.get("X-Template", "")).lower() in ("1", "yes"):
            title, message = fill(title, body), fill(message or "", body)
        published = {"id": uuid.uuid4().hex[:12], "time": int(time.time()), "event": "message",
                     "topic": topic[1], "message": message if message is not None else str(body), "title": title}
        self.messages.append(published)
        return Answer(200, published)
