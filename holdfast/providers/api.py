"""One provider's HTTP API, as the providers share it: JSON over HTTPS, an API key in a
header, bounded waits for rate limits, and errors that name the provider and the call.

The key lives only in the request headers: it is never part of a message, a log line or
this object's repr.
"""

import email.utils
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

from pyinfra.api.exceptions import PyinfraError

# Transport failures (no answer, a 5xx) of a read are retried this often, with backoff.
READ_ATTEMPTS = 3


class ProviderError(PyinfraError):
    """A hosted monitor provider refused or failed a call; the message says which and why."""


class KeyRefused(ProviderError):
    """The provider answered 401 or 403: the API key is wrong, or lacks the rights."""


class Api:
    """Calls to one provider's API at ``base_url``, authenticated by ``headers``."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", "User-Agent": "holdfast", **headers}
        self.timeout = timeout
        self.max_wait = max_wait
        self.waited = 0.0
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"Api({self.provider}, {self.base_url})"

    def url(self, path: str, **query) -> str:
        """The absolute URL of ``path`` (a path under the base URL), with ``query``."""
        encoded = urllib.parse.urlencode({key: value for key, value in query.items() if value is not None})
        return f"{self.base_url}{path}" + (f"?{encoded}" if encoded else "")

    def get(self, url: str, what: str):
        return self.call("GET", url, what)

    def call(self, method: str, url: str, what: str, body: dict | None = None):
        """The decoded JSON answer of ``method url`` (None if empty); ``what`` names the call
        in errors, e.g. "create monitor 'shop'"."""
        if not url.startswith(self.base_url + "/") and url != self.base_url:
            raise ProviderError(f"{self.provider}: {what}: refusing to send the API key to {url}")
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self._headers, **({"Content-Type": "application/json"} if data is not None else {})}
        attempt = 0
        while True:
            attempt += 1
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                return json.loads(payload) if payload.strip() else None
            except urllib.error.HTTPError as error:
                if error.code == 429:
                    self._wait_out(error, attempt, what)
                    continue
                if error.code >= 500 and method == "GET" and attempt < READ_ATTEMPTS:
                    self._pause(2 ** (attempt - 1), what)
                    continue
                raise self._error(error, what) from None
            except OSError as error:  # URLError and TimeoutError among them
                reason = getattr(error, "reason", error)
                if method == "GET" and attempt < READ_ATTEMPTS:
                    self._pause(2 ** (attempt - 1), what)
                    continue
                outcome = "" if method == "GET" else " (its outcome is unknown: the next deploy sees and settles it)"
                raise ProviderError(
                    f"{self.provider}: {what}: no answer from {self.base_url}: {reason}{outcome}"
                ) from None

    def _wait_out(self, error: urllib.error.HTTPError, attempt: int, what: str) -> None:
        """Sleep as long as the 429's Retry-After says (or back off), within max_wait."""
        self._pause(_retry_after(error.headers.get("Retry-After")) or 2 ** (attempt - 1), what)

    def _pause(self, seconds: float, what: str) -> None:
        if self.waited + seconds > self.max_wait:
            raise ProviderError(
                f"{self.provider}: {what}: still rate limited or failing after waiting {self.waited:.0f}s "
                f"(hosted_monitors.max_wait = {self.max_wait:.0f}s)"
            )
        self.waited += seconds
        self._sleep(seconds)

    def _error(self, error: urllib.error.HTTPError, what: str) -> ProviderError:
        detail = _message(error)
        if error.code in (401, 403):
            return KeyRefused(f"{self.provider}: {what}: the API key was refused (HTTP {error.code}: {detail})")
        return ProviderError(f"{self.provider}: {what}: HTTP {error.code}: {detail}")


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _message(error: urllib.error.HTTPError) -> str:
    """The provider's own explanation, from its JSON error body if it has one."""
    body = error.read().decode(errors="replace")
    try:
        decoded = json.loads(body)
    except ValueError:
        return body.strip()[:300] or error.reason
    if isinstance(decoded, dict):
        for key in ("message", "error", "detail"):
            value = decoded.get(key)
            if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
                return "; ".join(value)  # a validator's list (UptimeRobot's 400s)
            if isinstance(value, str):
                return value
    return body.strip()[:300]
