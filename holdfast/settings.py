"""Every group_data key Holdfast reads: its type, default, allowed range and meaning.

This module is the one place defaults live. group_data is validated for every host of
the inventory before any operation is added, and a bad value stops the deploy with a
message naming the file, the key, the value and the expected form.

``python -m holdfast.settings`` prints the reference (docs/settings.md).
"""

import difflib
import ipaddress
import math
import os
import re
import weakref
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pyinfra.api.exceptions import PyinfraError


class SettingsError(PyinfraError):
    """group_data is invalid; nothing was changed on any host."""


# --- value forms ---------------------------------------------------------------------
# Each form checks one kind of value and says, when it fails, what it expected.


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


def _upstream(value: str) -> str:
    """``unix:/path`` or ``host:port``, as nginx and Monit take it."""
    if value.startswith("unix:"):
        return _matching(r"unix:/[\w./-]+")(value)
    host, _, port = value.rpartition(":")
    try:
        ipaddress.ip_address(host)
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
UnitName = _form(
    "a systemd unit name such as 'php8.2-fpm.service'",
    _matching(r"[\w:.@-]+\.(service|socket|timer|slice|target|mount)"),
)
EnvName = _form("an environment variable name such as 'HOLDFAST_SMTP_PASSWORD'", _matching(r"[A-Z_][A-Z0-9_]*"))
Network = _form("an IP address or network such as '192.0.2.0/24'", _address_or_network)
Upstream = _form("'unix:/path/to.sock' or 'host:port'", _upstream)
PathPrefix = _form("a URL path without query such as '/login'", _matching(r"/[\w./-]*"))
QueryArg = _form("a query argument name of letters, digits and '_' such as 's'", _matching(r"\w+"))
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


def _unique(values: list) -> list:
    duplicates = sorted({str(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise ValueError(f"listed more than once: {', '.join(duplicates)}")
    return values


# --- models --------------------------------------------------------------------------


class Settings(BaseModel):
    """Base of every settings block: immutable, and unknown keys are errors (typos)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


Channel = Literal["email", "phone", "sms", "chat"]
# The field of a contact each channel reaches them at.
CHANNEL_FIELD: dict[str, str] = {"email": "email", "phone": "phone", "sms": "phone", "chat": "chat"}


class Contact(Settings):
    """A person or company that can be alerted."""

    name: str = Field(description="Full name as the runbook shows it.")
    role: str = Field(description="What they do, e.g. 'lead developer' or 'hosting contractor'.")
    email: Email = Field(description="Where alert mail goes.")
    phone: Phone | None = Field(None, description="For calls and text messages; needed for the phone and sms channels.")
    chat: str | None = Field(None, description="Chat handle (e.g. '@alice:matrix.org'); needed for the chat channel.")
    internal: bool = Field(True, description="An employee (True) or someone outside the company (False).")

    def address(self, channel: Channel) -> str | None:
        """Where ``channel`` reaches them; None if they gave no such address."""
        return getattr(self, CHANNEL_FIELD[channel])


class Tier(Settings):
    """One step of the escalation plan."""

    name: Slug = Field(description="Name used in alert routes and the runbook, e.g. 'tier1'.")
    members: Annotated[list[Slug], AfterValidator(_unique)] = Field(
        min_length=1, description="Keys of escalation.contacts alerted at this tier."
    )
    channels: Annotated[list[Channel], AfterValidator(_unique)] = Field(
        ["email"], min_length=1, description="How this tier is reached: email, phone, sms, chat."
    )
    escalate_after: Duration = Field(
        0, description="How long an alert stays unresolved before this tier is alerted (0: at once)."
    )


class Escalation(Settings):
    """Who is alerted, in what order, on which channel. The one list of recipients."""

    contacts: dict[Slug, Contact] = Field(min_length=1, description="Everyone who can be alerted, by key.")
    tiers: list[Tier] = Field(min_length=1, description="The order of escalation; tier 1 first.")

    def tier_contacts(self, tier: Tier) -> list[Contact]:
        return [self.contacts[member] for member in tier.members]

    def tier_emails(self, tier_name: str) -> list[str]:
        """Email addresses of the members of the tier named ``tier_name``."""
        tier = next(tier for tier in self.tiers if tier.name == tier_name)
        return [contact.email for contact in self.tier_contacts(tier)]


class Mail(Settings):
    """The SMTP relay alert mail goes through. Credentials come from the environment."""

    relay: Hostname = Field(description="SMTP relay host every alert mail goes through.")
    port: Port = Field(587, description="SMTP port of the relay.")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (port 587), tls (port 465) or none (a relay on a private network)."
    )
    sender: Email = Field(description="From: address of alert mail.")
    username_env: EnvName | None = Field(
        "HOLDFAST_SMTP_USER", description="Environment variable holding the relay user name (None: no login)."
    )
    password_env: EnvName | None = Field(
        "HOLDFAST_SMTP_PASSWORD", description="Environment variable holding the relay password."
    )

    def credentials(self, environ=os.environ) -> tuple[str, str] | None:
        """The relay login (user name, password), read from the environment of the deploy;
        None when username_env is None. A variable that is not set is a SettingsError naming
        the group_data file and key (so it is called while pyinfra prepares a host)."""
        if self.username_env is None:
            return None
        for key in ("username_env", "password_env"):
            name = getattr(self, key)
            if not name or not environ.get(name):
                raise refused(located(
                    ("mail", key), name,
                    "expected a variable set in the deploy's environment (the relay login comes from the "
                    "environment, never from group_data)",
                ))
        return environ[self.username_env], environ[self.password_env]


# The single-point-of-failure audit's rules (holdfast/escalation.py), by name.
AuditRule = Literal[
    "tier-members",
    "tier-channels",
    "channel-types",
    "external-contact",
    "monitor-placement",
    "relay-placement",
    "admin-keys",
    "tracked-secrets",
    "supervisor-conflict",
    "edge-timeouts",
    "monitors-allow-listed",
]


class Audit(Settings):
    """The single-point-of-failure audit: findings accepted on purpose, each with its reason."""

    acknowledged: dict[AuditRule, Annotated[str, Field(min_length=10)]] = Field(
        {}, description="Rule name -> the written reason its errors are accepted (at least 10 characters)."
    )


class Apt(Settings):
    """Package index policy."""

    cache_time: Duration = Field("1h", description="Refresh the apt index at most this often.")


class Supervision(Settings):
    """How Monit supervises a service: finds its process, probes it, restarts it (through
    systemctl), and escalates when restarts do not help."""

    pidfile: AbsolutePath | None = Field(None, description="Pid file of the main process (give pidfile or match).")
    match: Regex | None = Field(
        None, description="Pattern of the main process's command line, for a process without a pid file."
    )
    start_timeout: Duration = Field(
        "30s", ge=1, le=600,
        description="How long Monit waits for the process after `systemctl start` before the start counts as "
        "failed (it checks nothing else meanwhile).",
    )
    health_timeout: Duration = Field(
        "5s", ge=1, le=600, description="Timeout of each probe of the service and of the sites it serves."
    )
    health_cycles: Cycles = Field(
        2, description="Failed probes in a row before a restart (a site's end-to-end check: before the alert)."
    )
    cpu_percent: Percent | None = Field(
        None,
        description="Runaway: restart when Monit's `total cpu` of the process and its children stays above this. "
        "Monit divides the children's CPU by min(their threads, the host's CPUs): one spinning PHP worker of 2 "
        "reads 50% (None: no rule).",
    )
    cpu_cycles: Cycles = Field(3, description="Readings above cpu_percent within cpu_window cycles that restart it.")
    cpu_window: Cycles = Field(
        5,
        description="Cycles over which readings above cpu_percent are counted (a busy host's CPU readings are noisy).",
    )
    memory_limit: Size | None = Field(
        None, description="Restart when the process and its children use more memory than this (None: no rule)."
    )
    memory_cycles: Cycles = Field(2, description="Cycles above memory_limit before the restart.")
    restart_limit: int = Field(
        3, ge=1, le=64,
        description="Restarts within restart_window cycles that escalate to monit.escalation_tier; Monit keeps "
        "watching and restarting.",
    )
    restart_window: Cycles = Field(5, description="Cycles over which restarts are counted.")

    @model_validator(mode="after")
    def _consistent(self):
        if (self.pidfile is None) == (self.match is None):
            raise ValueError("expected either pidfile or match")
        if self.cpu_cycles > self.cpu_window:
            raise ValueError(f"expected cpu_cycles ({self.cpu_cycles}) at most cpu_window ({self.cpu_window})")
        if self.restart_limit > self.restart_window:
            raise ValueError(
                f"expected restart_limit ({self.restart_limit}) at most restart_window ({self.restart_window})"
            )
        return self


class Service(Settings):
    """A service of the site that Holdfast protects (installed by other means)."""

    unit: UnitName = Field(description="Its systemd unit.")
    slice: SliceName | None = Field(
        None, description="Key of `slices` it runs in (None: where its unit puts it, usually system.slice)."
    )
    supervision: Supervision = Field(description="How Monit supervises it.")
    request_timeout: Duration | None = Field(
        None,
        description="The longest the app itself lets one request run (PHP-FPM: request_terminate_timeout); "
        "None: unknown or unlimited (the audit warns).",
    )


class Slice(Settings):
    """A systemd slice, holdfast-<name>.slice: what the units placed in it may take together.

    The resource keys are systemd's own (systemd.resource-control(5)), with its syntax; a key
    left out (None) is not set, so systemd's default applies.
    """

    description: str = Field("", description="What runs there (shown by `systemctl status`).")
    CPUWeight: Weight | None = Field(
        None, description="Its share of CPU time against its sibling slices when CPU is scarce."
    )
    CPUQuota: CpuQuota | None = Field(
        None,
        description="The most CPU time its units may use together, however hard they loop (kept as a number of "
        "percent).",
    )
    MemoryLow: MemorySize | None = Field(
        None, description="Memory reserved for it: not reclaimed while others have memory to give back (cgroup v2)."
    )
    MemoryHigh: MemorySize | None = Field(
        None, description="Above this its units are slowed down and their memory reclaimed hard (cgroup v2)."
    )
    MemoryMax: MemorySize | None = Field(
        None, description="Hard memory limit: beyond it the kernel's OOM killer kills inside this slice only."
    )
    TasksMax: TaskCount | None = Field(
        None, description="The most processes and threads its units may have together (a fork storm stops there)."
    )
    IOWeight: Weight | None = Field(None, description="Its share of disk I/O against its sibling slices (cgroup v2).")

    def properties(self) -> dict[str, str]:
        """The resource properties it sets, in systemd's syntax (the [Slice] section)."""
        values = self.model_dump(exclude={"description"}, exclude_none=True)
        return {key: f"{value:g}%" if key == "CPUQuota" else str(value) for key, value in values.items()}


class Critical(Settings):
    """Units that must keep answering while a service runs away: how the host is reached,
    watched and served."""

    slice: SliceName | None = Field(
        "critical",
        description="Key of `slices` they run in (None: leave them where they are); unused on hosts without slices.",
    )
    units: Annotated[list[ServiceUnit], AfterValidator(_unique)] = Field(
        ["ssh.service", "monit.service", "nginx.service"],
        description="The units placed there, installed yet or not (a unit installed later starts in its slice).",
    )


class Backend(Settings):
    """Where nginx sends a site's dynamic requests, and how long it waits for them."""

    kind: Literal["fastcgi", "proxy"] = Field(description="fastcgi (e.g. PHP-FPM) or proxy (an HTTP app).")
    address: Upstream = Field(description="Socket or host:port of the backend.")
    service: Slug = Field(description="Key of `services` that answers here.")
    connect_timeout: Interval = Field(
        "5s", description="Longest wait for a connection to the backend before the fallback page."
    )
    read_timeout: Interval = Field(
        "30s", description="Longest silence from a busy backend (a loop, a hang) before the fallback page."
    )
    send_timeout: Interval = Field(
        "30s", description="Longest stall while sending a request to the backend before the fallback page."
    )
    max_fails: int = Field(
        3, ge=0, description="Failed attempts within fail_timeout that mark a server down (0: never)."
    )
    fail_timeout: Interval = Field(
        "10s", description="Window for max_fails, and how long a server marked down is left alone."
    )


class RateLimit(Settings):
    """Request limit of one location class, per client address (nginx limit_req)."""

    rate: Rate
    burst: int
    delay: Delay

    @model_validator(mode="after")
    def _delay_within_burst(self):
        if isinstance(self.delay, int) and self.delay > self.burst:
            raise ValueError(f"delay = {self.delay}: expected at most burst ({self.burst}) or 'nodelay'")
        return self

    @property
    def per_second(self) -> float:
        count, unit = self.rate.split("r/")
        return int(count) / {"s": 1, "m": 60}[unit]

    @property
    def retry_after(self) -> int:
        """Whole seconds until the rate frees the next request slot (for Retry-After)."""
        return math.ceil(1 / self.per_second)


def _rate_limit(name: str, doc: str, rate: str, burst: int, delay: int | str) -> type[RateLimit]:
    """A location class's RateLimit model, with that class's own defaults."""
    return create_model(
        name,
        __base__=RateLimit,
        __doc__=doc,
        rate=(Rate, Field(rate, description="Sustained requests per client address: 'Nr/s' or 'Nr/m'.")),
        burst=(int, Field(burst, ge=0, description="Requests above the rate one client may queue; more get 429.")),
        delay=(Delay, Field(
            delay,
            description="Queued requests served at once; the rest of the burst is paced at the rate ('nodelay': all).",
        )),
    )


DefaultLimit = _rate_limit("DefaultLimit", "Every dynamic request not in a stricter class.", "10r/s", 20, 10)
StrictLimit = _rate_limit("StrictLimit", "Expensive endpoints: log-in, XML-RPC, search.", "30r/m", 10, "nodelay")


class Limits(Settings):
    """What one client address may ask of a site. Static files are never rate limited;
    loopback, the monitors hosts and edge.allow are never limited at all."""

    default: DefaultLimit = Field(DefaultLimit(), description="The default class: pages and other dynamic requests.")
    strict: StrictLimit = Field(
        StrictLimit(), description="The strict class: requests under strict_paths or with strict_args."
    )
    strict_paths: Annotated[list[PathPrefix], AfterValidator(_unique)] = Field(
        ["/login", "/wp-login.php", "/xmlrpc.php", "/search"],
        description="Paths (and everything under them) of the strict class.",
    )
    strict_args: Annotated[list[QueryArg], AfterValidator(_unique)] = Field(
        ["s"],
        description="Query arguments that put a dynamic request carrying them (not empty) in the strict class "
        "(WordPress's search: s).",
    )
    connections: int = Field(20, ge=1, description="Requests one client address may have in progress at once.")


class StaleCache(Settings):
    """Answers kept to serve, stale, while the backend fails (GET/HEAD without cookies only)."""

    valid: Interval = Field("1m", description="How long a cached answer is served as fresh.")
    keep: Interval = Field(
        "1d", description="How long an answer nobody asks for stays available to be served stale."
    )
    max_size: NginxSize = Field("100m", description="Disk space the site's cache may use.")


class Fallback(Settings):
    """The page nginx serves itself when the backend fails (502, 503, 504)."""

    title: str = Field("We'll be right back", min_length=1, description="Heading of the page.")
    message: str = Field(
        "The site is very busy or being repaired. Please try again in a few minutes.",
        min_length=1,
        description="Text under the heading.",
    )


class Site(Settings):
    """A website served by the web hosts."""

    server_names: Annotated[list[Hostname], AfterValidator(_unique)] = Field(
        min_length=1, description="Host names nginx answers to; the first is the canonical one."
    )
    public_url: Url = Field(description="The URL visitors use; hosted monitors probe it.")
    root: AbsolutePath = Field(description="Document root (static files, PHP scripts).")
    backend: Backend = Field(description="The application behind nginx.")
    health_path: UrlPath = Field("/health", description="Path that answers health_expect when the app is well.")
    health_expect: str = Field("OK", min_length=1, description="Text the health path's answer contains.")
    content_path: UrlPath = Field("/", description="A page visitors see, for end-to-end content checks.")
    content_expect: str = Field(min_length=1, description="Text that page contains when the site works.")
    limits: Limits = Field(Limits(), description="Rate and connection limits per client address.")
    stale_cache: StaleCache | None = Field(
        None, description="Serve cached answers while the backend fails (None: the fallback page only)."
    )
    fallback: Fallback = Field(Fallback(), description="The page visitors see while the backend fails.")


class Edge(Settings):
    """nginx at the edge, for every site of the host."""

    allow: Annotated[list[Network], AfterValidator(_unique)] = Field(
        [], description="Sources never limited (e.g. the office); loopback and the monitors hosts always are."
    )
    zone_size: NginxSize = Field(
        "10m", description="Shared memory of each limit and cache zone (1m: about 16000 addresses, 8000 cache keys)."
    )
    log_level: Literal["info", "notice", "warn", "error"] = Field(
        "warn", description="Level at which rejected requests are logged (delayed ones one level lower)."
    )
    dry_run: bool = Field(False, description="Count and log what would be limited, but limit nothing (a safe rollout).")


class UptimeRobot(Settings):
    """UptimeRobot account Holdfast registers one keyword monitor per site in."""

    api_url: Url = Field("https://api.uptimerobot.com/v3", description="Base URL of UptimeRobot's v3 REST API.")
    api_key_env: EnvName = Field(
        "HOLDFAST_UPTIMEROBOT_API_KEY", description="Environment variable holding the main API key (unset: skipped)."
    )
    interval: Duration = Field(
        "5m", ge=30, description="How often UptimeRobot checks each site (the plan sets the minimum: 5m on free)."
    )


class Healthchecks(Settings):
    """Healthchecks.io project Holdfast registers one heartbeat check per host in."""

    api_url: Url = Field("https://healthchecks.io/api/v3", description="Base URL of the Management API v3.")
    api_key_env: EnvName = Field(
        "HOLDFAST_HEALTHCHECKS_API_KEY",
        description="Environment variable holding the project's read-write API key (unset: skipped).",
    )
    ping_url: Url = Field("https://hc-ping.com", description="Base of the ping URLs the hosts' heartbeats call.")
    ping_key_env: EnvName = Field(
        "HOLDFAST_HEALTHCHECKS_PING_KEY",
        description="Environment variable holding the project's ping key (unset: heartbeats left as they are).",
    )


class HostedMonitors(Settings):
    """Hosted external monitors, reconciled once per deploy from the control machine.

    The same for every host of the inventory (put it in group_data/all.py)."""

    tag: Slug = Field(
        "holdfast", description="Tag marking the monitors Holdfast created; it never changes monitors without it."
    )
    request_timeout: Duration = Field(15, ge=1, le=300, description="Timeout of one API request.")
    max_wait: Duration = Field(
        "2m", le=3600, description="Longest a deploy waits out a provider's rate limit (429 and Retry-After)."
    )
    uptimerobot: UptimeRobot = Field(UptimeRobot(), description="Site monitors at UptimeRobot.")
    healthchecks: Healthchecks = Field(Healthchecks(), description="Host heartbeats at Healthchecks.io.")


class Heartbeat(Settings):
    """This host's dead-man switch: a systemd timer pings the host's Healthchecks.io check."""

    every: Duration = Field("1m", ge=5, description="How often the host pings its check.")
    timeout: Duration = Field(
        "5m", ge=60, le=31536000, description="Period Healthchecks.io expects a ping in (the check's timeout)."
    )
    grace: Duration = Field(
        "5m", ge=60, le=31536000, description="How late a ping may be before Healthchecks.io alerts."
    )

    @model_validator(mode="after")
    def _pings_within_the_timeout(self):
        if self.every >= self.timeout:
            raise ValueError(f"expected every ({self.every}s) shorter than timeout ({self.timeout}s)")
        return self


AlertName = _form("an alert name of letters, digits and '_' such as 'DiskAlmostFull'", _matching(r"[A-Za-z_]\w*"))


class AlertRule(Settings):
    """An alert rule of the user's own, escalated through the tiers like Holdfast's."""

    name: AlertName = Field(description="Name of the alert, as alert mail shows it.")
    expr: str = Field(
        min_length=1, description="PromQL expression; each series it returns is an alert (promtool checks it)."
    )
    after: Duration = Field(0, description="How long expr must hold before tier 1 is alerted.")
    summary: str = Field(
        min_length=1, description="One line for the alert mail; may use {{ $labels.host }} and {{ $value }}."
    )


class Monitoring(Settings):
    """The external monitor (Prometheus, blackbox exporter, Alertmanager on the monitor hosts)."""

    scrape_interval: Interval = Field("30s", description="How often every site is probed and every host scraped.")
    evaluation_interval: Interval = Field("30s", description="How often the alert rules are evaluated.")
    probe_timeout: Interval = Field(
        "10s", description="A probe (or scrape) that takes longer fails; at most scrape_interval."
    )
    failed_probes: int = Field(
        3, ge=1, le=100,
        description="A site is down (slow) after this many failed (slow) probes in a row.",
    )
    slow_response: Interval = Field(
        "3s", description="A successful probe slower than this is slow; less than probe_timeout."
    )
    host_down_after: Interval = Field(
        "2m", description="A watched host whose node_exporter is unreachable this long is down."
    )
    group_wait: Duration = Field("30s", description="Alertmanager waits this long to bundle a new alert's first mail.")
    group_interval: Interval = Field(
        "5m", description="Alertmanager mails changes to an alert group (new or resolved alerts) at most this often."
    )
    repeat_interval: Interval = Field("4h", description="An alert still firing is mailed again after this long.")
    send_resolved: bool = Field(True, description="Mail a notice when an alert resolves.")
    watchdog_url: Url | None = Field(
        None, description="Webhook of a hosted heartbeat (e.g. a Healthchecks.io ping URL) the always-firing "
        "Watchdog alert calls; it alarms when the calls stop (None: no heartbeat).",
    )
    watchdog_interval: Interval = Field("1m", description="How often the Watchdog alert calls watchdog_url.")
    extra_rules: list[AlertRule] = Field([], description="Alert rules of your own, escalated like the built-in ones.")

    def contradictions(self) -> list[tuple[tuple, Any, str]]:
        """Values that contradict another value of this section, as (key, value, message) triples."""
        errors = []
        if self.probe_timeout > self.scrape_interval:
            errors.append((("probe_timeout",), self.probe_timeout,
                           f"expected at most monitoring.scrape_interval ({self.scrape_interval})"))
        if self.slow_response >= self.probe_timeout:
            errors.append((("slow_response",), self.slow_response,
                           f"expected less than monitoring.probe_timeout ({self.probe_timeout})"))
        return errors


class MonitSystem(Settings):
    """Host-wide limits Monit alerts on."""

    load_per_core: float = Field(2.0, gt=0, description="5-minute load average per CPU core above which Monit alerts.")
    cpu_percent: Percent = Field(95, description="CPU busy (% of all the host's CPUs) above which Monit alerts.")
    memory_percent: Percent = Field(90, description="Memory in use (% of the host's) above which Monit alerts.")
    swap_percent: Percent = Field(50, description="Swap in use (% of the host's) above which Monit alerts.")
    cycles: Cycles = Field(5, description="Cycles a limit is exceeded in a row before the alert.")


class MonitFilesystems(Settings):
    """Filesystems Monit watches for space and inodes."""

    paths: Annotated[list[AbsolutePath], AfterValidator(_unique)] = Field(
        ["/"], description="Mount points (or paths on them) to watch."
    )
    space_percent: Percent = Field(90, description="Space in use above which Monit alerts.")
    inode_percent: Percent = Field(90, description="Inodes in use above which Monit alerts.")
    cycles: Cycles = Field(3, description="Cycles a limit is exceeded in a row before the alert.")


class Monit(Settings):
    """Monit on every host: cycle, web interface, who is alerted, host-wide limits. What it
    supervises: `services` (their `supervision`), nginx and the `sites`, sshd and cron."""

    cycle: Duration = Field("30s", ge=1, le=3600, description="Monit checks everything once per cycle.")
    start_delay: Duration = Field(
        "1m", le=3600, description="After Monit starts (e.g. at boot), wait this long before the first check."
    )
    httpd_port: Port = Field(2812, description="Port of Monit's web interface on 127.0.0.1 (`monit status` uses it).")
    ssh_port: Port = Field(22, description="Port sshd answers on, probed with the SSH protocol.")
    event_slots: int = Field(
        1000, ge=1, le=100000, description="Alerts queued on disk while the mail relay is unreachable."
    )
    alert_tier: Slug = Field("tier1", description="Name of the escalation tier that gets every Monit alert.")
    escalation_tier: Slug = Field(
        "tier2", description="Name of the escalation tier alerted when a service keeps restarting (restart_limit)."
    )
    system: MonitSystem = Field(MonitSystem(), description="Load, CPU, memory and swap limits.")
    filesystems: MonitFilesystems = Field(MonitFilesystems(), description="Space and inode limits.")


class HostSettings(Settings):
    """All of Holdfast's settings for one host: the top-level group_data keys."""

    escalation: Escalation = Field(description="The escalation plan (group_data/all.py).")
    mail: Mail = Field(description="Alert mail relay (group_data/all.py).")
    apt: Apt = Field(Apt(), description="Package index policy.")
    audit: Audit = Field(Audit(), description="Audit findings accepted on purpose.")
    services: dict[Slug, Service] = Field({}, description="Services of the site Holdfast protects (group_data/web.py).")
    sites: dict[Slug, Site] = Field({}, description="Websites on the host (group_data/web.py).")
    slices: dict[SliceName, Slice] = Field(
        {}, description="systemd slices holdfast-<name>.slice and their resource limits (group_data/web.py)."
    )
    critical: Critical = Field(
        Critical(), description="Units protected in the critical slice, beside the services placed there."
    )
    slice_budget: Literal["error", "warn"] = Field(
        "error",
        description="A slice limit beyond the host's CPUs or memory: stop the deploy before any change (error), "
        "or warn and deploy.",
    )
    edge: Edge = Field(Edge(), description="nginx at the edge: allow-list, limit zones, logging (group_data/web.py).")
    hosted_monitors: HostedMonitors = Field(
        HostedMonitors(), description="Hosted external monitors: UptimeRobot and Healthchecks.io (group_data/all.py)."
    )
    heartbeat: Heartbeat = Field(Heartbeat(), description="This host's heartbeat to Healthchecks.io.")
    monitoring: Monitoring = Field(
        Monitoring(),
        description="The external monitor, read on the monitor hosts (e.g. set in group_data/monitors.py).",
    )
    monit: Monit = Field(Monit(), description="Monit on every host.")
    disposable: bool = Field(
        False, description="A throwaway lab host: the host tests may break it on purpose. Never True in production."
    )

    def reference_errors(self) -> list[tuple[tuple, Any, str]]:
        """Names that point nowhere and values that contradict another, as (key path, value,
        message) triples."""
        errors = [(("monitoring", *loc), value, message) for loc, value, message in self.monitoring.contradictions()]
        for index, tier in enumerate(self.escalation.tiers):
            errors += _unknown(("escalation", "tiers", index, "members"), tier.members, self.escalation.contacts,
                               "escalation.contacts")
        for name, site in self.sites.items():
            errors += _unknown(("sites", name, "backend", "service"), [site.backend.service], self.services,
                               "services")
        tiers = {tier.name: tier for tier in self.escalation.tiers}
        for key in ("alert_tier", "escalation_tier"):
            errors += _unknown(("monit", key), [getattr(self.monit, key)], tiers, "escalation.tiers (by name)")
        return errors + self._placement_errors() + self._supervision_errors()

    def _supervision_errors(self) -> list[tuple[tuple, Any, str]]:
        """Monit rules that a service's slice makes unreachable."""
        errors = []
        for name, service in self.services.items():
            limits = self.slices.get(service.slice)
            if limits is None:
                continue
            rules, loc = service.supervision, ("services", name, "supervision")
            if rules.cpu_percent is not None and limits.CPUQuota is not None and rules.cpu_percent >= limits.CPUQuota:
                errors.append(((*loc, "cpu_percent"), rules.cpu_percent,
                               f"expected less than CPUQuota of slice {service.slice} ({limits.CPUQuota:g}%): "
                               "Monit's total cpu never exceeds it"))
            max_memory = limits.MemoryMax if isinstance(limits.MemoryMax, int) else None
            if rules.memory_limit is not None and max_memory is not None and rules.memory_limit >= max_memory:
                errors.append(((*loc, "memory_limit"), rules.memory_limit,
                               f"expected less than MemoryMax of slice {service.slice} ({limits.MemoryMax}): "
                               "the OOM killer acts first"))
        return errors

    def _placement_errors(self) -> list[tuple[tuple, Any, str]]:
        errors = []
        placed_by: dict[str, tuple] = {}
        if self.slices and self.critical.slice:
            errors += _unknown(("critical", "slice"), [self.critical.slice], self.slices, "slices")
            placed_by.update({unit: ("critical", "units") for unit in self.critical.units})
        for name, service in self.services.items():
            if service.slice is None:
                continue
            loc = ("services", name, "slice")
            errors += _unknown(loc, [service.slice], self.slices, "slices")
            unit_loc = ("services", name, "unit")
            if not service.unit.endswith(".service"):
                errors.append((unit_loc, service.unit, "expected a .service unit: only services are placed in a slice"))
            elif service.unit in placed_by:
                errors.append((unit_loc, service.unit, f"already placed by {_dotted(placed_by[service.unit])}"))
            placed_by[service.unit] = unit_loc
        return errors

    @property
    def placements(self) -> dict[str, str]:
        """Unit -> key of `slices` it runs in: the critical units, then the services given a slice."""
        if not self.slices:
            return {}
        placed = dict.fromkeys(self.critical.units, self.critical.slice) if self.critical.slice else {}
        placed.update({service.unit: service.slice for service in self.services.values() if service.slice})
        return placed

    def slice_of(self, unit: str) -> Slice | None:
        """The slice ``unit`` is placed in, if any (e.g. to compare a CPU alert with its CPUQuota)."""
        name = self.placements.get(unit)
        return self.slices[name] if name else None


def _unknown(loc: tuple, names: list[str], known: dict, where: str) -> list[tuple[tuple, Any, str]]:
    return [
        (loc, name, f"expected a key of {where} ({', '.join(known) or 'none defined'})")
        for name in names
        if name not in known
    ]


# --- loading and validating an inventory ---------------------------------------------


def _is_pyinfra_key(key: str) -> bool:
    """Keys pyinfra itself reads: connector data (ssh_*, ...) and global arguments (_sudo, ...)."""
    from pyinfra.api.connectors import get_all_connectors

    if key.startswith("_"):
        return True
    return any(
        key in getattr(getattr(connector, "data_cls", None), "__annotations__", {})
        for connector in get_all_connectors().values()
    )


def _group_data_files() -> list[Path]:
    folder = Path.cwd() / "group_data"
    return sorted(folder.glob("*.py")) if folder.is_dir() else []


@cache
def _keys_defined_in(path: Path) -> frozenset[str]:
    import runpy

    try:
        return frozenset(runpy.run_path(str(path)))
    except Exception:  # a file that fails here has already been read by pyinfra; label only
        return frozenset()


def _source(inventory, host, key: str) -> str:
    """Which file (or inventory entry) the value of ``key`` for ``host`` comes from."""
    if key in inventory.get_override_data():
        return "--data on the command line"
    if key in inventory.get_host_data(host.name):
        return f"the inventory (host {host.name})"
    files = {path.stem: path for path in _group_data_files()}
    for group in [*reversed(host.groups), "all"]:
        data = inventory.get_data() if group == "all" else inventory.get_group_data(group)
        if key in data:
            path = files.get(group)
            if path and key in _keys_defined_in(path):
                return str(path.relative_to(Path.cwd()))
            return f"the inventory (group {group})"
    return "defaults"


_MESSAGES = {
    "missing": "required, but not set",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected True or False",
    "bool_type": "expected True or False",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a dict",
    "model_type": "expected a dict",
    "model_attributes_type": "expected a dict",
}


def _dotted(loc: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _nested_model(annotation) -> type[BaseModel] | None:
    """The settings model inside an annotation (X, X | None, list[X], dict[str, X]), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _nested_model(argument)
        if found:
            return found
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the model found at ``loc`` (for "did you mean" hints)."""
    for part in loc:
        if model is not None and part in model.model_fields:
            model = _nested_model(model.model_fields[part].annotation)
    return list(model.model_fields) if model else []


def _describe(error: dict) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _fields_at(HostSettings, error["loc"][:-1])
        hint = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        return "unknown key" + (f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(known)}")
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    message = error["msg"].removeprefix("Value error, ")
    if message.startswith("Input should be "):
        return "expected " + message.removeprefix("Input should be ")
    return message


def _host_errors(inventory, host) -> list[str]:
    """Validation errors of one host's settings, each naming file, key, value and form."""
    data = host.data.dict()
    errors = []
    for key in sorted(data):
        if key not in HostSettings.model_fields and not _is_pyinfra_key(key):
            hint = difflib.get_close_matches(key, list(HostSettings.model_fields), n=1)
            errors.append(
                f"{_source(inventory, host, key)}: {key}: unknown key"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
    try:
        settings = _validate(data)
    except ValidationError as error:
        for problem in error.errors():
            loc = problem["loc"]
            value = "" if problem["type"] == "missing" else f" = {problem['input']!r}"
            errors.append(f"{_source(inventory, host, str(loc[0]))}: {_dotted(loc)}{value}: {_describe(problem)}")
    else:
        errors += [_located(inventory, host, *problem) for problem in settings.reference_errors()]
    return errors


def _located(inventory, host, loc: tuple, value, message: str) -> str:
    return f"{_source(inventory, host, str(loc[0]))}: {_dotted(loc)} = {value!r}: {message}"


def refused(*problems: str) -> SettingsError:
    """The error that stops a deploy before any host is touched, listing ``problems``."""
    return SettingsError("invalid group_data, nothing was changed on any host:\n  " + "\n  ".join(problems))


def located(loc: tuple, value, message: str) -> str:
    """A problem with a key of the current host's settings, worded as validation errors are:
    file, key, value, message (for checks against host facts at prepare time)."""
    from pyinfra import host, inventory

    return _located(inventory, host, loc, value, message)


def _validate(data: dict) -> HostSettings:
    return HostSettings.model_validate({key: value for key, value in data.items() if key in HostSettings.model_fields})


_validated: "weakref.WeakKeyDictionary[Any, dict[str, HostSettings]]" = weakref.WeakKeyDictionary()


def load(inventory) -> dict[str, HostSettings]:
    """Validated settings of every host in ``inventory``, by host name.

    Raises SettingsError listing every problem (each once) if any host's data is invalid.
    """
    if inventory in _validated:
        return _validated[inventory]
    errors: dict[str, None] = {}
    for host in inventory:
        errors.update(dict.fromkeys(_host_errors(inventory, host)))
    if errors:
        raise refused(*errors)
    settings = {host.name: _validate(host.data.dict()) for host in inventory}
    _validated[inventory] = settings
    return settings


def current() -> HostSettings:
    """Settings of the host pyinfra is preparing, after the whole inventory validated."""
    from pyinfra import host

    return load(host.inventory)[host.name]


def same_on_every_host(values: dict[str, Any], key: str) -> Any:
    """The one value of ``key`` that every host (by name) has; SettingsError if they differ.

    For settings read once for the whole inventory, e.g. by a reconcile on the control machine.
    """
    distinct: list = []
    for value in values.values():
        if value not in distinct:
            distinct.append(value)
    if len(distinct) > 1:
        first, other = distinct[:2]
        holders = [", ".join(host for host, value in values.items() if value == each) for each in (first, other)]
        raise refused(f"{key} differs between hosts ({holders[0]}: {first!r}; {holders[1]}: {other!r}): "
                      "it must be the same for all of them")
    return distinct[0]


# The inventory groups Holdfast deploys to: the hosts it protects and watches, and the
# external monitors.
WATCHED_GROUP = "web"
MONITOR_GROUP = "monitors"


def address_of(pyinfra_host) -> str:
    """How the deploy machine reaches an inventory host: its ``ssh_hostname``, else its name."""
    return pyinfra_host.data.get("ssh_hostname") or pyinfra_host.name


def read_inventory(path: str | Path):
    """The pyinfra inventory at ``path``, with group_data from the current directory, as
    the ``pyinfra`` command loads it (for the tests, the audit and the benchmarks)."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    with ctx_state.use(State()):
        return make_inventory(str(Path(path).resolve()), cwd=str(Path.cwd()))


# --- the reference -------------------------------------------------------------------


_PLAIN_TYPES = {str: "text", int: "whole number", bool: "True or False", float: "number"}


def _type_name(annotation, metadata=()) -> str:
    """How the reference describes a value's expected form."""
    for meta in (*metadata, *getattr(annotation, "__metadata__", ())):
        if isinstance(meta, Form):
            return meta.description
    origin = getattr(annotation, "__origin__", None)
    args = getattr(annotation, "__args__", ())
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "dict"
    if origin is Annotated or hasattr(annotation, "__metadata__"):
        return _type_name(origin or args[0])
    if origin is list:
        return f"list of: {_type_name(args[0])}"
    if origin is dict:
        if _nested_model(args[1]):
            return f"dict of {_type_name(args[1])}s, by name"
        return f"dict of: {_type_name(args[1])}"
    if origin is Literal:
        return " or ".join(map(repr, args))
    if type(None) in args:
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + ", or None"
    return _PLAIN_TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def reference_rows(model: type[BaseModel] = None, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, expected form, default, meaning) of every key, depth first."""
    rows = []
    for name, field in (model or HostSettings).model_fields.items():
        key = f"{prefix}{name}"
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        if isinstance(field.get_default(call_default_factory=True), BaseModel | dict) and default != "{}":
            default = "see below"
        rows.append((key, _type_name(field.annotation, field.metadata), default, field.description or ""))
        nested = _nested_model(field.annotation)
        if nested:
            is_mapping = getattr(field.annotation, "__origin__", None) is dict
            is_list = getattr(field.annotation, "__origin__", None) is list
            rows += reference_rows(nested, f"{key}.<name>." if is_mapping else f"{key}[]." if is_list else f"{key}.")
    return rows


def reference() -> str:
    """docs/settings.md: every group_data key, its form, default and meaning."""
    lines = [
        "# Settings reference",
        "",
        "<!-- Generated by `python -m holdfast.settings` from holdfast/settings.py; do not edit. -->",
        "",
        "Every group_data key Holdfast reads. Keys are top-level names in `group_data/<group>.py`",
        "(`all`, `web`, `monitors`, or the inventory's own group such as `lab`); nested keys are",
        "dict entries. Unknown keys are errors, so typos are caught before any host is touched.",
        "",
        "| key | expected | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, form, default, meaning in reference_rows():
        shown = default if default in ("required", "see below") else f"`{default}`"
        cells = [f"`{key}`", form, shown, meaning]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
