"""The forms a group_data value can take: durations, sizes, percentages, names, addresses...

Each form checks one kind of value and says, when it fails, what it expected; the settings
models (holdfast/settings.py) are built from them, and the reference shows their wording.
"""

import ipaddress
import re
import zoneinfo
from typing import Annotated

from pydantic import BeforeValidator, Field


class Form:
    """Metadata naming a value's expected form, for error messages and the reference."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return self.description


def _form(description: str, check, base=str):
    """An annotated type: values go through ``check``; failures say ``expected <description>``."""

    def validate(value):
        try:
            return check(value)
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"expected {description}") from None

    return Annotated[base, BeforeValidator(validate), Form(description)]


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _parse_duration(value) -> int:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, int):
        if value < 0:
            raise ValueError
        return value
    match = re.fullmatch(r"(\d+)\s*([smhd])", value.strip())
    return int(match[1]) * _DURATION_UNITS[match[2]]


def _percent(value: str, most: float | None = None) -> float:
    """'50%' -> 50.0; more than zero, and at most ``most`` if given."""
    percent = float(re.fullmatch(r"(\d+(?:\.\d+)?)%", value.strip())[1])
    if percent <= 0 or (most is not None and percent > most):
        raise ValueError
    return percent


def _amount(value, units: dict[str, int]) -> int | str:
    """A systemd amount: a positive whole number (optionally with one of ``units``), 'N%' (of
    what the host has, at most 100) or 'infinity'. Numbers come back as int, the rest as text."""
    if isinstance(value, str):
        text = value.strip()
        if text == "infinity":
            return text
        if text.endswith("%"):
            return f"{_percent(text, most=100):g}%"
        match = re.fullmatch(rf"(\d+)\s*({'|'.join(units)})?", text)
        value = int(match[1]) * units.get(match[2], 1)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    if value <= 0:
        raise ValueError
    return value


def _cpu_quota(value: str) -> float:
    if not isinstance(value, str):
        raise TypeError
    return _percent(value)


def _weight(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10000:
        raise ValueError
    return value


def _size(value) -> int:
    """A number of bytes, optionally with a K, M, G or T unit (no percentage, no 'infinity')."""
    size = _amount(value, _SIZE_UNITS)
    if isinstance(size, str):
        raise ValueError
    return size


def nginx_bytes(size: str) -> int:
    """The bytes of an nginx size (``NginxSize``: k, m and g are powers of 1024)."""
    return int(size.rstrip("kKmMgG")) * _SIZE_UNITS.get(size[-1].upper(), 1)


def _regex(value: str) -> str:
    """A regular expression as Monit's config can quote it (no double quote)."""
    if '"' in value:
        raise ValueError
    try:
        re.compile(value)
    except re.error:
        raise ValueError from None
    return value


def _matching(pattern: str):
    def check(value: str) -> str:
        if not isinstance(value, str) or not re.fullmatch(pattern, value):
            raise ValueError
        return value

    return check


def _hostname(value: str) -> str:
    label = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
    return _matching(rf"{label}(\.{label})*\.?")(value)


def _address_or_network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=False))


def _address(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError
    return str(ipaddress.ip_address(value))


def _time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except zoneinfo.ZoneInfoNotFoundError:
        raise ValueError(value) from None
    return value


def _upstream(value: str) -> str:
    """``unix:/path`` or ``host:port`` (an IPv6 host in brackets), as nginx takes it."""
    if value.startswith("unix:"):
        return _matching(r"unix:/[\w./-]+")(value)
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])
    elif ":" in host:
        raise ValueError  # IPv6 without brackets: nginx would read its last group as the port
    else:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            _hostname(host)
    if not 1 <= int(port) <= 65535:
        raise ValueError
    return value


def _delay(value) -> int | str:
    """A number of requests, or "nodelay"."""
    if value == "nodelay":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError
    return value


Duration = _form("a duration such as 30, '30s', '5m', '2h' or '1d' (whole seconds)", _parse_duration, int)
Slug = _form("a name of lowercase letters, digits, '-' and '_' (e.g. 'shop')", _matching(r"[a-z][a-z0-9_-]{0,39}"))
Hostname = _form("a hostname such as 'smtp.example.com'", _hostname)
Email = _form("an email address such as 'alice@example.com'", _matching(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"))
Phone = _form("a phone number in international form such as '+44 20 7946 0000'", _matching(r"\+[\d ]{7,20}"))
Url = _form("an http(s) URL such as 'https://shop.example.com/'", _matching(r"https?://[^\s/]+(/\S*)?"))
UrlPath = _form("a URL path starting with '/' such as '/health'", _matching(r"/[\w./?=&%-]*"))
AbsolutePath = _form("an absolute path such as '/srv/www/shop'", _matching(r"/[\w./-]*"))
IncludeGlob = _form(
    "an absolute path or glob under /etc/nginx such as '/etc/nginx/sites-enabled/*'",
    _matching(r"/etc/nginx/[\w./*?\[\]-]+"),
)
UnitName = _form(
    "a systemd unit name such as 'php8.2-fpm.service'",
    _matching(r"[\w:.@-]+\.(service|socket|timer|slice|target|mount)"),
)
MatrixRoom = _form(
    "a Matrix room ID such as '!abcdefgh:example.org' (not an alias, '#room:example.org')",
    _matching(r"![^\s:/]+(:[^\s/]+)?"),
)
UserName = _form("a system user name such as 'www-data'", _matching(r"[a-z_][a-z0-9_-]{0,31}"))
EnvName = _form("an environment variable name such as 'HOLDFAST_SMTP_PASSWORD'", _matching(r"[A-Z_][A-Z0-9_]*"))
TimeZone = _form("an IANA time zone such as 'UTC' or 'Europe/Berlin'", _time_zone)
Network = _form("an IP address or network such as '192.0.2.0/24'", _address_or_network)
Address = _form("an IP address such as '192.0.2.10' (no network length)", _address)
Interface = _form("a network interface name such as 'eth0' (at most 15 letters, digits, '.', '-', '_')",
                  _matching(r"[A-Za-z0-9_.-]{1,15}"))
Comment = _form(
    "a short text of at most 100 characters, without '\"', '\\' or line breaks, such as 'mail from the web hosts'",
    _matching(r'[^"\\\n]{1,100}'),
)
Upstream = _form("'unix:/path/to.sock' or 'host:port' ('[ipv6]:port')", _upstream)
PathPrefix = _form("a URL path without query such as '/login'", _matching(r"/[\w./-]*"))
QueryArg = _form("a query argument name of letters, digits and '_' such as 's'", _matching(r"\w+"))
QueryArgPattern = _form(
    "a query argument name, or a prefix ending in '*', such as 'fbclid' or 'utm_*'", _matching(r"\w+\*?")
)
CookiePrefix = _form("the start of cookie names, such as 'wordpress_logged_in_'", _matching(r"[\w-]+"))
Rate = _form("a request rate such as '10r/s' or '600r/m'", _matching(r"[1-9]\d*r/[sm]"))
NginxSize = _form("a size such as '10m' or '512k' (bytes, or k, m, g units)", _matching(r"[1-9]\d*[kKmMgG]?"))
Delay = _form("a number of requests (0 or more) or 'nodelay'", _delay, int | str)
Port = Annotated[int, Field(ge=1, le=65535)]
Interval = Annotated[Duration, Field(ge=1)]
SliceName = _form(
    "a slice name of lowercase letters, digits and '_' such as 'web' (no '-': systemd reads it as nesting)",
    _matching(r"[a-z][a-z0-9_]{0,29}"),
)
ServiceUnit = _form("a systemd service name such as 'ssh.service'", _matching(r"[\w:.@-]+\.service"))
CpuQuota = _form("a percentage of one CPU such as '50%' or '150%' (over 100%: several CPUs)", _cpu_quota, float)
MemorySize = _form(
    "a size in bytes such as 536870912, '512M' or '2G' (K, M, G, T: powers of 1024), "
    "a percentage of the host's memory such as '20%', or 'infinity'",
    lambda value: _amount(value, _SIZE_UNITS),
    int | str,
)
TaskCount = _form(
    "a number of tasks such as 512, a percentage of the host's task limit such as '10%', or 'infinity'",
    lambda value: _amount(value, {}),
    int | str,
)
Weight = _form("a whole number from 1 to 10000 (systemd's default is 100)", _weight, int)
Size = _form("a size such as 536870912, '512M' or '2G' (K, M, G, T: powers of 1024)", _size, int)
Regex = _form("a regular expression without '\"' (POSIX extended, as Monit reads it) such as 'php-fpm: master'", _regex)
Percent = Annotated[float, Field(gt=0, le=100), Form("a percentage above 0 and at most 100, such as 80 or 12.5")]
Cycles = Annotated[int, Field(ge=1, le=64), Form("a number of Monit cycles from 1 to 64 (Monit's limit)")]
AlertName = _form("an alert name of letters, digits and '_' such as 'DiskAlmostFull'", _matching(r"[A-Za-z_]\w*"))
KeyPattern = _form(
    "a pattern of top-level keys such as 'docker_*' ('*': any characters, '?': one, [abc]: one of them)",
    _matching(r"[\w*?\[\]!-]+"),
)


def unique(values: list) -> list:
    """A list's check that each value is there once."""
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"listed more than once: {', '.join(duplicates)}")
    return values

