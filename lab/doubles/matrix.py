"""A double of a Matrix homeserver's client-server API for sending a message, from the
published specification (https://spec.matrix.org/v1.12/client-server-api/: "PUT
/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}", "Client Authentication",
"Standard error response", "m.room.message", "User and room mentions").

``PUT /_matrix/client/v3/rooms/<roomId, URL-encoded>/send/<eventType>/<txnId>`` with the
event's content as a JSON object, the access token as ``Authorization: Bearer <token>``.
Answers are JSON: 200 ``{"event_id": "$..."}``; the same txnId again (same token) answers
the first event's id and sends nothing (idempotency); errors are ``{"errcode", "error"}``:
401 ``M_MISSING_TOKEN`` (no token) or ``M_UNKNOWN_TOKEN`` (a wrong one), 403 ``M_FORBIDDEN``
(a room the token's user is not in), 400 ``M_NOT_JSON`` (a body that is no JSON object),
400 ``M_BAD_JSON`` (an m.room.message without a string ``msgtype`` and ``body``), 404
``M_UNRECOGNIZED`` for any other request. ``m.mentions.user_ids`` lists the users a
message mentions.
"""

import re
import urllib.parse
import uuid

from lab.doubles import Answer, Double

SEND = re.compile(r"/_matrix/client/v3/rooms/([^/]+)/send/([^/]+)/([^/]+)")


def _error(status: int, code: str, text: str) -> Answer:
    return Answer(status, {"errcode": code, "error": text})


class MatrixDouble(Double):
    def __init__(self, token: str, room: str, address: str = "127.0.0.1", port: int = 0):
        super().__init__(address, port)
        self.token, self.room = token, room
        self.events: list[dict] = []  # each sent event: room, type, txn, content
        self._sent: dict[str, str] = {}  # txnId -> event id

    def texts(self) -> list[str]:
        """The body of every message sent to the room."""
        return [event["content"]["body"] for event in self.events if event["type"] == "m.room.message"]

    def answer(self, method, path, query, body, headers) -> Answer:
        sending = SEND.fullmatch(path)
        if method != "PUT" or not sending:
            return _error(404, "M_UNRECOGNIZED", "Unrecognized request")
        authorization = headers.get("Authorization") or ""
        if not authorization.startswith("Bearer "):
            return _error(401, "M_MISSING_TOKEN", "Missing access token")
        if authorization.removeprefix("Bearer ") != self.token:
            return _error(401, "M_UNKNOWN_TOKEN", "Unrecognised access token")
        room, kind, txn = (urllib.parse.unquote(part) for part in sending.groups())
        if room != self.room:
            return _error(403, "M_FORBIDDEN", f"User not in room {room}")
        if not isinstance(body, dict):
            return _error(400, "M_NOT_JSON", "Content not JSON.")
        if kind == "m.room.message" and not all(isinstance(body.get(key), str) for key in ("msgtype", "body")):
            return _error(400, "M_BAD_JSON", "m.room.message needs a string msgtype and body")
        if txn not in self._sent:
            self._sent[txn] = f"${uuid.uuid4().hex}:{self.room.partition(':')[2] or 'localhost'}"
            self.events.append({"room": room, "type": kind, "txn": txn, "content": body})
        return Answer(200, {"event_id": self._sent[txn]})
