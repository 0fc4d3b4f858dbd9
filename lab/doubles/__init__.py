"""Local doubles of the hosted monitor providers: real HTTP servers, in a thread, that
answer as the providers' published API documentation says, keep their monitors in
memory, count the write calls they receive and can be told to rate limit or to fail.

    with UptimeRobotDouble(key="k") as robot:
        ...  # point the client at robot.url
        assert robot.writes == []
"""

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass
class Request:
    """One request the double received, and how it answered."""

    method: str
    path: str
    status: int
    client: str
    body: object = None
    headers: dict = field(default_factory=dict)


@dataclass
class Answer:
    status: int
    body: object = None  # a dict or list is sent as JSON, a str as text
    headers: dict | None = None


def listening_at(url: str) -> dict:
    """The address and port a double must listen on to answer ``url``."""
    parsed = urllib.parse.urlsplit(url)
    return {"address": parsed.hostname, "port": parsed.port or 80}


class Double:
    """A provider's API on ``address:port`` (port 0: any free one). Subclasses implement
    ``answer(method, path, query, body, headers)``."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0):
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._rate_limited: list[int] = []
        self._failing: tuple[Answer, tuple[str, ...], str] | None = None
        self._server = ThreadingHTTPServer((address, port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        address, port = self._server.server_address[:2]
        return f"http://{address}:{port}"

    @property
    def api_requests(self) -> list[Request]:
        """Calls of the management API received (whatever the answer), in order: not pings."""
        return [request for request in self.requests if self.is_api(request.path)]

    @property
    def writes(self) -> list[Request]:
        """Write calls of the management API received (whatever the answer), in order."""
        return [request for request in self.api_requests if request.method in WRITE_METHODS]

    def is_api(self, path: str) -> bool:
        return True

    def rate_limit(self, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` API requests with 429 and ``Retry-After: retry_after``."""
        self._rate_limited += [retry_after] * times

    def fail(self, answer: Answer, methods: tuple[str, ...] = WRITE_METHODS, path: str = "") -> None:
        """Answer every API request of ``methods`` (to a path starting with ``path``) from
        now on with ``answer`` (an error)."""
        self._failing = (answer, methods, path)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def handle(self, method: str, raw_path: str, headers, raw_body: bytes, client: str) -> Answer:
        parsed = urllib.parse.urlsplit(raw_path)
        query = {key: values[-1] for key, values in urllib.parse.parse_qs(parsed.query).items()}
        with self.lock:
            try:
                body = json.loads(raw_body) if raw_body.strip() else None
            except ValueError:
                answer = Answer(400, {"message": "the request body is not JSON"})
                body = raw_body.decode(errors="replace")
            else:
                if self._rate_limited and self.is_api(parsed.path):
                    retry_after = self._rate_limited.pop(0)
                    answer = Answer(429, {"message": "Too Many Requests"}, {"Retry-After": str(retry_after)})
                elif (self._failing and method in self._failing[1] and parsed.path.startswith(self._failing[2])
                      and self.is_api(parsed.path)):
                    answer = self._failing[0]
                else:
                    answer = self.answer(method, parsed.path, query, body, headers)
            self.requests.append(Request(method, parsed.path, answer.status, client, body, dict(headers)))
        return answer

    def answer(self, method: str, path: str, query: dict, body, headers) -> Answer:
        raise NotImplementedError


def _handler(double: Double):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            answer = double.handle(self.command, self.path, self.headers, body, self.client_address[0])
            payload = (answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
                       if answer.body is not None else "").encode()
            self.send_response(answer.status)
            content_type = "text/plain" if isinstance(answer.body, str) else "application/json"
            for name, value in {"Content-Type": content_type, **(answer.headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, *args):
            pass

    return Handler
