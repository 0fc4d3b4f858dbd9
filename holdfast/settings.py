"""Every group_data key Holdfast reads: its type, default, allowed range and meaning.

This module is the one place defaults live: one pydantic model per settings block, built
from the value forms of holdfast/forms.py. The models check values and say what they
expected; holdfast/loading.py validates every host of the inventory with them and names
the group_data file of each problem. ``python -m holdfast.reference`` prints the
reference (docs/settings.md).
"""

import fnmatch
import ipaddress
import math
import os
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

from holdfast.forms import (
    AbsolutePath,
    Address,
    AlertName,
    Comment,
    CookiePrefix,
    CpuQuota,
    Cycles,
    Delay,
    Duration,
    Email,
    EnvName,
    Hostname,
    IncludeGlob,
    Interface,
    Interval,
    KeyPattern,
    MatrixRoom,
    MemorySize,
    Network,
    NginxSize,
    PathPrefix,
    Percent,
    Phone,
    Port,
    QueryArg,
    QueryArgPattern,
    Rate,
    Regex,
    ServiceUnit,
    Size,
    SliceName,
    Slug,
    TaskCount,
    TimeZone,
    UnitName,
    Upstream,
    Url,
    UrlPath,
    UserName,
    Weight,
    nginx_bytes,
    unique,
)

# A problem with one key, found after validation: (key path from the top level, value, what
# was expected). The models return them; the loading layer names the group_data file.
Problem = tuple[tuple, Any, str]


def dotted(loc: tuple) -> str:
    """A key path as group_data nests it: ``escalation.tiers[1].channels``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def nested_model(annotation) -> type[BaseModel] | None:
    """The settings model inside an annotation (X, X | None, list[X], dict[str, X]), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = nested_model(argument)
        if found:
            return found
    return None


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
    members: Annotated[list[Slug], AfterValidator(unique)] = Field(
        min_length=1, description="Keys of escalation.contacts alerted at this tier."
    )
    channels: Annotated[list[Channel], AfterValidator(unique)] = Field(
        ["email"], min_length=1, description="How this tier is reached: email, phone, sms, chat."
    )
    escalate_after: Duration = Field(
        0, description="How long an alert stays unresolved before this tier is alerted (0: at once)."
    )


class ChannelProvider(Settings):
    """The service that delivers one channel (chat, phone or sms) for Alertmanager; its
    secret comes from the deploy's environment, never from group_data."""

    provider: Literal["slack", "ntfy", "matrix", "pagerduty"] = Field(
        description="For chat: slack (any Slack-compatible incoming webhook: Slack, Mattermost, Rocket.Chat), "
        "ntfy or matrix (a Matrix room, through the client-server API); for phone and sms: pagerduty (its Events "
        "API v2; PagerDuty calls or texts the people of its service's escalation policy).",
    )
    url: Url | None = Field(
        None, description="Where to send (None: the provider's own): slack, the webhook URL up to its secret part "
        "(https://hooks.slack.com/services); ntfy, the server (https://ntfy.sh); matrix, the homeserver's client API "
        "(https://matrix-client.matrix.org); pagerduty, the events endpoint "
        "(https://events.pagerduty.com/v2/enqueue).",
    )
    secret_env: EnvName = Field(
        description="Environment variable of the deploy holding the secret: slack, the rest of the webhook URL "
        "(e.g. 'T00/B00/XXXX'); ntfy, the topic (whoever knows it reads it); matrix, the access token of the user "
        "that posts; pagerduty, the integration's routing key.",
    )
    room: MatrixRoom | None = Field(
        None, description="matrix only, and required there: the room's ID (its settings show it), which the access "
        "token's user has joined.",
    )
    token_env: EnvName | None = Field(
        None, description="ntfy only: environment variable holding an access token (None: no login).",
    )


class Escalation(Settings):
    """Who is alerted, in what order, on which channel. The one list of recipients."""

    contacts: dict[Slug, Contact] = Field(min_length=1, description="Everyone who can be alerted, by key.")
    tiers: list[Tier] = Field(min_length=1, description="The order of escalation; tier 1 first.")
    providers: dict[Literal["chat", "phone", "sms"], ChannelProvider] = Field(
        {}, description="How the external monitor delivers each channel other than email (by channel); a tier's "
        "channel without one stops the deploy.",
    )

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
        "starttls", description="starttls (port 587) or none (a relay on a private network). tls (implicit TLS, port "
        "465) is refused: Monit 5.33 cannot send over it."
    )
    sender: Email = Field(description="From: address of alert mail.")
    username_env: EnvName | None = Field(
        "HOLDFAST_SMTP_USER", description="Environment variable holding the relay user name (None: no login)."
    )
    password_env: EnvName | None = Field(
        "HOLDFAST_SMTP_PASSWORD", description="Environment variable holding the relay password."
    )

    def login_problems(self, environ=os.environ) -> list[Problem]:
        """The login variables that are not set in the deploy's environment (none when
        username_env is None): the relay login comes from there, never from group_data."""
        if self.username_env is None:
            return []
        return [
            (("mail", key), getattr(self, key), "expected a variable set in the deploy's environment (the relay "
             "login comes from the environment, never from group_data)")
            for key in ("username_env", "password_env")
            if not getattr(self, key) or not environ.get(getattr(self, key))
        ]

    def credentials(self, environ=os.environ) -> tuple[str, str] | None:
        """The relay login (user name, password) read from the deploy's environment; None when
        username_env is None. Once ``login_problems`` found none."""
        if self.username_env is None:
            return None
        return environ[self.username_env], environ[self.password_env]


class Audit(Settings):
    """The single-point-of-failure audit: findings accepted on purpose, each with its reason."""

    acknowledged: dict[Slug, Annotated[str, Field(min_length=10)]] = Field(
        {}, description="Rule name (holdfast/audit.py) -> the written reason its errors are accepted (at least 10 "
        "characters)."
    )


class Apt(Settings):
    """Package index policy."""

    cache_time: Duration = Field("1h", description="Refresh the apt index at most this often.")


class ServiceProbe(Settings):
    """A connection Monit opens to a service every cycle, speaking its protocol."""

    address: Upstream = Field(description="Where the service listens: 'unix:/path/to.sock' or 'host:port'.")
    protocol: Literal["mysql", "pgsql", "redis", "memcache"] | None = Field(
        None, description="Monit's test of the service's own protocol (None: the connection alone)."
    )


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
    probe: ServiceProbe | None = Field(
        None,
        description="Monit's own probe of the service, restarting it after health_cycles failures (the sites it "
        "serves add theirs).",
    )
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


# --- PHP-FPM's pool (holdfast/php_fpm.py) -----------------------------------------------

PHP_FPM_UNIT = re.compile(r"php(\d+\.\d+)-fpm\.service")


class PhpFpm(Settings):
    """The PHP-FPM pool Holdfast writes for a FastCGI service: it listens where the service's
    sites send their requests, kills a request that runs too long, and logs the PHP stack of
    a slow one. pm.max_children is derived on the host: the service's memory (the lower of
    its slice's MemoryMax and its supervision.memory_limit, else the host's memory) divided
    by worker_memory."""

    user: UserName = Field("www-data", description="User (and group) the pool's workers run as.")
    request_terminate_timeout: Interval = Field(
        "30s",
        description="PHP-FPM kills a request running longer than this (its worker, not the service); at most "
        "the read_timeout of the service's sites, so nginx never waits on a request PHP-FPM has given up.",
    )
    request_slowlog_timeout: Interval = Field(
        "5s",
        description="A request running longer than this gets its PHP stack written to the slow log; less than "
        "request_terminate_timeout.",
    )
    worker_memory: Size = Field(
        "64M", description="Memory one worker is expected to take at most, for pm.max_children."
    )
    max_requests: int = Field(
        500, ge=0, description="Requests a worker serves before it is replaced (pm.max_requests; 0: never)."
    )
    listen_backlog: int = Field(
        511, ge=1, le=65535,
        description="Connections waiting for a free worker before new ones are refused (listen.backlog; the "
        "kernel caps it at net.core.somaxconn).",
    )

    @model_validator(mode="after")
    def _slowlog_before_the_kill(self):
        if self.request_slowlog_timeout >= self.request_terminate_timeout:
            raise ValueError(
                f"expected request_slowlog_timeout ({self.request_slowlog_timeout}s) less than "
                f"request_terminate_timeout ({self.request_terminate_timeout}s)"
            )
        return self


def php_fpm_errors(host_settings: "HostSettings") -> list[Problem]:
    """Pools Holdfast cannot write as group_data asks: not PHP-FPM's unit, no single FastCGI
    address to listen on, a request timeout above nginx's, two request timeouts."""
    errors = []
    for name, service in host_settings.services.items():
        pool = service.php_fpm
        if pool is None:
            continue
        loc = ("services", name)
        if not PHP_FPM_UNIT.fullmatch(service.unit):
            errors.append(((*loc, "unit"), service.unit, "expected php<X.Y>-fpm.service with a php_fpm section"))
        if service.request_timeout is not None:
            errors.append(((*loc, "request_timeout"), service.request_timeout,
                           "expected None with a php_fpm section (its request_terminate_timeout is the app's)"))
        sites = {key: site for key, site in host_settings.sites.items()
                 if site.backend.service == name and site.backend.kind == "fastcgi"}
        if len({site.backend.address for site in sites.values()}) != 1:
            found = {key: site.backend.address for key, site in sites.items()}
            errors.append(((*loc, "php_fpm"), found or "no FastCGI site",
                           "expected the FastCGI sites of this service to share one backend.address"))
        for key, site in sites.items():
            if pool.request_terminate_timeout > site.backend.read_timeout:
                errors.append(((*loc, "php_fpm", "request_terminate_timeout"), pool.request_terminate_timeout,
                               f"expected at most sites.{key}.backend.read_timeout ({site.backend.read_timeout}s): "
                               "nginx would answer the visitor while the worker keeps running"))
    return errors


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
        "None: unknown or unlimited (the audit warns). With php_fpm, its request_terminate_timeout instead.",
    )
    php_fpm: PhpFpm | None = Field(
        None, description="Holdfast writes this PHP-FPM service's pool (None: the pools are left as they are)."
    )
    exporter: Literal["mysqld"] | None = Field(
        None,
        description="A Prometheus exporter Holdfast installs beside it for the monitor to scrape ('mysqld': Debian's "
        "prometheus-mysqld-exporter, logging in as a database user of its own).",
    )

    @property
    def app_timeout(self) -> int | None:
        """The longest the app lets one request run: its pool's timeout, else request_timeout."""
        return self.php_fpm.request_terminate_timeout if self.php_fpm else self.request_timeout


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
    units: Annotated[list[ServiceUnit], AfterValidator(unique)] = Field(
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


def per_second(rate: str) -> float:
    """Requests per second of a rate ('Nr/s' or 'Nr/m')."""
    count, unit = rate.split("r/")
    return int(count) / {"s": 1, "m": 60}[unit]


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
        return per_second(self.rate)

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


class StrictBudget(Settings):
    """The strict class for all client addresses together: a crowd, each of them under the
    per-client limits, still gets no more of the application's expensive requests than
    this. Beyond it, the busy page (429, with Retry-After) at once, never a queue that ends
    in a timeout; the rest of the application's workers stay for everything else."""

    rate: Rate = Field("10r/s", description="Strict-class requests the site takes from all clients together.")
    burst: int = Field(10, ge=0, description="Requests above that rate served at once (never queued); more get 429.")
    in_flight: int = Field(
        4, ge=1,
        description="Strict-class requests the application may have in progress at once, site-wide; keep it below "
        "its workers (PHP-FPM's pm.max_children), so that pages and members still find one.",
    )


class Limits(Settings):
    """What one client address may ask of a site, and what all of them may ask of its
    strict class together. Static files are never rate limited; loopback, the monitors
    hosts and edge.allow are never limited at all."""

    default: DefaultLimit = Field(DefaultLimit(), description="The default class: pages and other dynamic requests.")
    strict: StrictLimit = Field(
        StrictLimit(), description="The strict class: requests under strict_paths or with strict_args."
    )
    strict_paths: Annotated[list[PathPrefix], AfterValidator(unique)] = Field(
        ["/login", "/wp-login.php", "/xmlrpc.php", "/search"],
        description="Paths (and everything under them) of the strict class.",
    )
    strict_args: Annotated[list[QueryArg], AfterValidator(unique)] = Field(
        ["s"],
        description="Query arguments that put a dynamic request carrying them (not empty) in the strict class "
        "(WordPress's search: s).",
    )
    strict_budget: StrictBudget = Field(
        StrictBudget(), description="The strict class for all client addresses together (a crowd)."
    )
    connections: int = Field(20, ge=1, description="Requests one client address may have in progress at once.")
    allow_listed_paths: Annotated[list[PathPrefix], AfterValidator(unique)] = Field(
        [],
        description="Paths (and everything under them) only the never-limited sources reach (loopback, the monitors "
        "hosts, edge.allow); others get 403 (e.g. WordPress's /wp-cron.php).",
    )

    @model_validator(mode="after")
    def _budget_above_one_client(self):
        if per_second(self.strict_budget.rate) < self.strict.per_second:
            raise ValueError(
                f"expected strict_budget.rate ({self.strict_budget.rate}) at least strict.rate ({self.strict.rate}), "
                "what one client may ask alone"
            )
        return self


class StaleCache(Settings):
    """Answers kept to serve, stale, while the backend fails (GET/HEAD of visitors without a
    private cookie only)."""

    valid: Interval = Field("1m", description="How long a cached answer is served as fresh.")
    keep: Interval = Field(
        "1d", description="How long an answer nobody asks for stays available to be served stale."
    )
    max_size: NginxSize = Field(
        "100m",
        description="What the site's cache may hold. The caches are kept in memory (a tmpfs charged to nginx's "
        "slice), so that a full disk never stops nginx storing, and so serving, an answer.",
    )
    private_cookies: Annotated[list[CookiePrefix], AfterValidator(unique)] | None = Field(
        None,
        description="Starts of the cookie names that make an answer the visitor's own: never cached, never answered "
        "from the cache (e.g. WordPress's log-in and commenter cookies); None: any cookie.",
    )
    ignored_args: Annotated[list[QueryArgPattern], AfterValidator(unique)] = Field(
        ["utm_*", "fbclid", "gclid", "mc_*"],
        description="Query arguments left out of the cache key (up to four in one request), so a crowd following "
        "one link, each with its own tracking tag, is served from one cached answer; the application still sees "
        "them.",
    )


class Fallback(Settings):
    """The page nginx serves itself when the backend fails (502, 503, 504)."""

    title: str = Field("We'll be right back", min_length=1, description="Heading of the page.")
    message: str = Field(
        "The site is very busy or being repaired. Please try again in a few minutes.",
        min_length=1,
        description="Text under the heading.",
    )


LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class Acme(Settings):
    """The ACME account certbot uses on this host for the sites with tls.mode 'acme'."""

    email: Email | None = Field(
        None, description="The account's email: the CA's notices (expiry, problems) go there. Required once a site "
        "uses mode 'acme'.",
    )
    directory_url: Url = Field(LETS_ENCRYPT, description="The ACME CA's directory URL (Let's Encrypt by default).")


class Tls(Settings):
    """HTTPS for a site: its certificate from an ACME CA (certbot, HTTP-01 through nginx) or
    files already on the host. Port 80 then redirects to HTTPS, except the ACME challenge."""

    mode: Literal["acme", "files"] = Field(
        description="acme: certbot obtains and renews the certificate (account in `acme`); files: certificate "
        "and key already on the host, renewed by other means."
    )
    certificate: AbsolutePath | None = Field(
        None, description="mode files: the certificate chain (PEM, the site's certificate first) on the host."
    )
    key: AbsolutePath | None = Field(None, description="mode files: its private key (PEM) on the host.")
    hsts: Duration | None = Field(
        None, description="Strict-Transport-Security max-age sent over HTTPS, e.g. '365d' (None: no header)."
    )

    @model_validator(mode="after")
    def _files_for_files(self):
        given = [key for key in ("certificate", "key") if getattr(self, key)]
        if self.mode == "files" and len(given) < 2:
            raise ValueError("expected certificate and key (paths on the host) with mode 'files'")
        if self.mode == "acme" and given:
            raise ValueError(f"expected no {' or '.join(given)} with mode 'acme' (certbot keeps its own)")
        return self


class Site(Settings):
    """A website served by the web hosts."""

    server_names: Annotated[list[Hostname], AfterValidator(unique)] = Field(
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
    tls: Tls | None = Field(None, description="HTTPS for the site (None: plain HTTP on port 80 only).")
    availability_objective: float = Field(
        99.9, gt=0, lt=100,
        description="Percent of the external monitor's probes of the site (on each web host) that succeed, over "
        "30 days; the rest is the error budget: burning it fast pages (SiteBudgetBurnFast), slowly opens a "
        "ticket (SiteBudgetBurnSlow).",
    )


class Bans(Settings):
    """Repeat offenders of the sites' per-client limits dropped at the firewall by Debian's
    fail2ban (its nginx-limit-req filter, an nftables set): each new ban of an address twice
    as long as its last, every ban expiring on its own. The sources never limited (loopback,
    the monitors hosts, edge.allow) are never banned; the strict class's budget for all
    clients together (a crowd) bans nobody."""

    enabled: bool = Field(True, description="Ban repeat offenders (False: limits answer 429, nobody is banned).")
    refused: int = Field(
        60, ge=1, description="Requests a per-client limit refused to one address within `within` that ban it."
    )
    within: Interval = Field("1m", description="The window `refused` is counted over.")
    ban: Interval = Field("10m", description="An address's first ban; each next one twice as long as its last.")
    longest: Interval = Field("1d", description="The longest a ban grows to.")

    @model_validator(mode="after")
    def _longest_at_least_the_first(self):
        if self.longest < self.ban:
            raise ValueError(f"expected longest ({self.longest}s) at least ban ({self.ban}s)")
        return self


class Edge(Settings):
    """nginx at the edge, for every site of the host."""

    allow: Annotated[list[Network], AfterValidator(unique)] = Field(
        [], description="Sources never limited (e.g. the office); loopback and the monitors hosts always are."
    )
    zone_size: NginxSize = Field(
        "10m", description="Shared memory of each limit and cache zone (1m: about 16000 addresses, 8000 cache keys)."
    )
    log_level: Literal["info", "notice", "warn", "error"] = Field(
        "warn", description="Level at which rejected requests are logged (delayed ones one level lower)."
    )
    dry_run: bool = Field(False, description="Count and log what would be limited, but limit nothing (a safe rollout).")
    bans: Bans = Field(Bans(), description="Repeat offenders of the per-client limits, banned at the firewall.")
    keep: Annotated[list[IncludeGlob], AfterValidator(unique)] = Field(
        [], description="Files of the host's own nginx configuration that Holdfast's nginx.conf includes beside its "
        "own (include globs such as '/etc/nginx/sites-enabled/*'), checked together by nginx -t. Before the first "
        "deploy, any other file of a running nginx stops the deploy: Holdfast never drops one silently.",
    )


class UptimeRobot(Settings):
    """UptimeRobot account Holdfast registers one keyword monitor per site in."""

    api_url: Url = Field("https://api.uptimerobot.com/v3", description="Base URL of UptimeRobot's v3 REST API.")
    api_key_env: EnvName = Field(
        "HOLDFAST_UPTIMEROBOT_API_KEY", description="Environment variable holding the main API key (unset: skipped)."
    )
    interval: Duration = Field(
        "5m", ge=30, description="How often UptimeRobot checks each site (the plan sets the minimum: 5m on free)."
    )
    time_zone: TimeZone = Field(
        "UTC", description="The account's time zone (its Account Settings): UptimeRobot reads the start of a "
        "maintenance window in it.",
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



Severity = Literal["page", "ticket"]
SEVERITY_HELP = "page (every tier in turn, until resolved) or ticket (the first tier only, in working hours)."


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
    severity: Severity = Field("page", description=SEVERITY_HELP)
    description: str | None = Field(None, description="What the alert means, for the runbook (None: the summary).")


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
    certificate_expiry: Interval = Field(
        "14d", description="Alert when a site's certificate (probed over HTTPS) expires within this long; certbot "
        "renews 30 days before."
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
    runbook_url: str = Field(
        "docs/RUNBOOK.md", min_length=1,
        description="Where the team reads the runbook (a URL, or the path in this repository); every alert carries "
        "this with its section's anchor as runbook_url.",
    )

    def contradictions(self) -> list[Problem]:
        """Values that contradict another value of this section, as (key, value, message) triples."""
        errors = []
        if self.probe_timeout > self.scrape_interval:
            errors.append((("probe_timeout",), self.probe_timeout,
                           f"expected at most monitoring.scrape_interval ({self.scrape_interval})"))
        if self.scrape_interval > 60:
            errors.append((("scrape_interval",), self.scrape_interval,
                           "expected at most 60s: the error budget's 5-minute window needs 5 probes at least"))
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

    paths: Annotated[list[AbsolutePath], AfterValidator(unique)] = Field(
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
    certificate_days: int = Field(
        14, ge=1, le=365, description="Alert when the certificate of a site with tls is valid for fewer days than this."
    )
    event_slots: int = Field(
        1000, ge=1, le=100000, description="Alerts queued on disk while the mail relay is unreachable."
    )
    alert_tier: Slug = Field("tier1", description="Name of the escalation tier that gets every Monit alert.")
    escalation_tier: Slug = Field(
        "tier2", description="Name of the escalation tier alerted when a service keeps restarting (restart_limit)."
    )
    system: MonitSystem = Field(MonitSystem(), description="Load, CPU, memory and swap limits.")
    filesystems: MonitFilesystems = Field(MonitFilesystems(), description="Space and inode limits.")


# --- the host firewall (holdfast/firewall.py) -------------------------------------------

EVERYWHERE = ["0.0.0.0/0", "::/0"]
# Open to everyone on a host that serves sites (HTTP and HTTPS).
SITE_PORTS = (80, 443)


class FirewallRule(Settings):
    """A further opening of the host firewall: one port, from some networks."""

    port: Port = Field(description="The port opened (1 to 65535).")
    protocol: Literal["tcp", "udp"] = Field("tcp", description="tcp or udp.")
    sources: Annotated[list[Network], AfterValidator(unique)] = Field(
        EVERYWHERE, min_length=1, description="Networks it is open to (default: everywhere, IPv4 and IPv6)."
    )
    why: Comment = Field(description="What needs it: the rule's comment in the ruleset, and the runbook's.")


class Firewall(Settings):
    """Holdfast's nftables table (``table inet holdfast``): inbound traffic is dropped (and
    counted) unless the policy opens it: ssh (monit.ssh_port) always, 80 and 443 on hosts
    with sites, scrape_ports from the inventory's monitors hosts only, and ``allow``. A new
    ruleset is checked by ``nft -c`` and rolled back by the host itself when the deploy
    cannot reach it again over a new SSH connection within ``rollback_after``."""

    ssh_from: Annotated[list[Network], AfterValidator(unique)] = Field(
        EVERYWHERE,
        description="Networks ssh (monit.ssh_port) is open to; never empty: ssh stays open whatever else the policy "
        "says.",
    )
    scrape_ports: Annotated[list[Port], AfterValidator(unique)] = Field(
        [9100], description="Ports (1 to 65535) the monitors hosts scrape (node_exporter's 9100): open to them only."
    )
    allow: list[FirewallRule] = Field(
        [], description="Further openings, e.g. a mail relay's SMTP from the web hosts."
    )
    rollback_after: Duration = Field(
        "60s", ge=10, le=600,
        description="After a ruleset change the host restores the previous one by itself unless the deploy reaches "
        "it again over a new SSH connection within this time.",
    )


def firewall_errors(host_settings: "HostSettings") -> list[Problem]:
    """Policies Holdfast refuses: one that closes ssh, a scrape port everyone may reach
    anyway (a site's, ssh's), an opening that gives a scrape port to others."""
    policy, loc = host_settings.firewall, ("firewall",)
    errors = []
    if not policy.ssh_from:
        errors.append(((*loc, "ssh_from"), policy.ssh_from,
                       "expected at least one network: a policy without ssh locks everyone out"))
    public = {port: "a site's port, open to everyone" for port in SITE_PORTS if host_settings.sites}
    public[host_settings.monit.ssh_port] = "ssh's port (monit.ssh_port)"
    for index, port in enumerate(policy.scrape_ports):
        if port in public:
            errors.append(((*loc, "scrape_ports", index), port,
                           f"expected a port open to the monitors hosts only, not {public[port]}"))
    for index, rule in enumerate(policy.allow):
        if rule.port in policy.scrape_ports and rule.protocol == "tcp":
            errors.append(((*loc, "allow", index, "port"), rule.port,
                           "expected a port not in firewall.scrape_ports (open to the monitors hosts only)"))
    return errors

# --- the service address that moves (holdfast/failover.py) -------------------------------


class FailoverPeer(Settings):
    """A web host that can hold the service addresses: its own address and its priority."""

    address: Address = Field(
        description="The host's own address on failover.network: VRRP's unicast source, and a peer of the others."
    )
    priority: int = Field(
        ge=1, le=254, description="The highest priority of the healthy hosts holds the addresses (1 to 254; no ties)."
    )


class Replication(Settings):
    """MariaDB's replication between the web hosts: the primary's databases copied (GTID) to
    a read-only replica on every other web host, so that the host taking the address over has
    the site's data. Promoting a replica is a person's decision, never automatic."""

    primary: Hostname = Field(
        description="The web host whose MariaDB takes the writes (a key of failover.peers); the others replicate it."
    )
    password_env: EnvName = Field(
        "HOLDFAST_DB_REPLICATION_PASSWORD",
        description="Environment variable holding the replication user's password (16 or more letters, digits, "
        "'-' or '_'): it comes from the environment, never from group_data.",
    )
    lag_limit: Duration = Field(
        "1m", ge=1, description="A replica this far behind the primary, or not replicating at all, is alerted on."
    )

    def password_problems(self, environ=os.environ) -> list[Problem]:
        """The password's variable unset in the deploy's environment, or its value of another form."""
        value = environ.get(self.password_env, "")
        if re.fullmatch(r"[A-Za-z0-9_-]{16,}", value):
            return []
        found = "it is not set" if not value else "its value is of another form (not shown)"
        return [(("failover", "database", "password_env"), self.password_env,
                 f"expected a variable set in the deploy's environment to 16 or more letters, digits, '-' or '_' "
                 f"({found})")]


class ServiceAddress(Settings):
    """The address visitors reach one site at, held by one healthy web host at a time."""

    address: Address = Field(description="The site's service address, inside failover.network, no host's own.")
    router_id: int = Field(
        ge=1, le=255, description="VRRP's virtual_router_id: one per address, unique on the network (1 to 255)."
    )


class Failover(Settings):
    """keepalived on the web hosts (VRRP over unicast, no multicast): each site's service
    address is held by the healthy host of highest priority, and moves when nginx or the
    site's health path fails there. Preemption is delayed, never immediate: a host that comes
    back (or heals) takes the address back only after preempt_delay, once, not mid-recovery.
    Set it in the group_data of the web hosts (every host of group web is a peer)."""

    enabled: bool = Field(False, description="Run keepalived on the web hosts (needs two or more of them).")
    network: Network | None = Field(
        None, description="The web hosts' network (e.g. '192.0.2.0/24'): their addresses and the service addresses "
        "are inside it.",
    )
    interface: Interface = Field("eth0", description="The web hosts' interface on that network.")
    peers: dict[Hostname, FailoverPeer] = Field(
        {}, description="Every host of group web, by inventory name: its own address and its priority.",
    )
    sites: dict[Slug, ServiceAddress] = Field({}, description="Key of `sites` -> its service address.")
    advert_interval: Duration = Field(
        1, ge=1, le=255, description="How often the holder says so; a holder silent three times this long is replaced."
    )
    check_interval: Duration = Field("2s", ge=1, le=60, description="How often each host checks nginx and the site.")
    check_timeout: Duration = Field("2s", ge=1, le=60, description="A site's health answer slower than this fails.")
    fall: int = Field(
        3, ge=1, le=20,
        description="Failed checks in a row that give up the address (a short restart by Monit does not move it).",
    )
    rise: int = Field(2, ge=1, le=20, description="Passing checks in a row before a host may hold it again.")
    copied: Annotated[list[AbsolutePath], AfterValidator(unique)] = Field(
        [], description="Directories the other web hosts copy from the primary (the peer of highest priority), e.g. "
        "WordPress's uploads: public files (nginx serves them), served read-only to the peers by rsync's daemon.",
    )
    copy_every: Duration = Field(
        "1m", ge=5, le=3600, description="How often the other web hosts copy them (the most a copy lags behind).",
    )
    database: Replication | None = Field(
        None, description="MariaDB replicated from one web host to the others (None: each host's database is its own).",
    )
    preempt_delay: Duration = Field(
        "5m", ge=0, le=1000,
        description="A host of higher priority that comes back healthy waits this long before it takes the address "
        "back (keepalived's preempt_delay): one planned move, not a flap while it recovers.",
    )

    @property
    def ranked(self) -> list[str]:
        """The peers, highest priority first: the first is the primary, which holds the
        addresses while it is healthy (and takes them back)."""
        return sorted(self.peers, key=lambda name: -self.peers[name].priority)


def failover_errors(host_settings: "HostSettings") -> list[Problem]:
    """A failover keepalived cannot run as asked: no network, an address outside it, one
    address or router id claimed twice, tied priorities, fewer than two peers (on a host
    with sites: the same group_data may reach the monitors hosts)."""
    policy, loc = host_settings.failover, ("failover",)
    if not policy.enabled or not host_settings.sites:
        return []
    if policy.network is None:
        return [((*loc, "network"), None, "expected the web hosts' network such as '192.0.2.0/24' with failover on")]
    network = ipaddress.ip_network(policy.network)
    errors = []
    if len(policy.peers) < 2:
        errors.append(((*loc, "peers"), list(policy.peers),
                       "expected two or more web hosts: a group of one host has nowhere to move the address"))
    claimed: dict[str, str] = {}  # address -> the key that claims it first
    priorities: dict[int, str] = {}
    for name, peer in policy.peers.items():
        claimed.setdefault(peer.address, f"failover.peers.{name}.address")
        if peer.priority in priorities:
            errors.append(((*loc, "peers", name, "priority"), peer.priority,
                           f"expected a priority other than failover.peers.{priorities[peer.priority]}'s: "
                           "tied priorities leave the holder to chance"))
        priorities.setdefault(peer.priority, name)
    ranked = policy.ranked
    if policy.database and policy.database.primary not in policy.peers:
        errors.append(((*loc, "database", "primary"), policy.database.primary,
                       f"expected a key of failover.peers ({', '.join(policy.peers) or 'none'})"))
    elif policy.database and ranked and policy.database.primary != ranked[0]:
        errors.append(((*loc, "database", "primary"), policy.database.primary,
                       f"expected the peer of highest priority ({ranked[0]}): the service address returns there, "
                       "and its writes must reach the primary database (promoting a replica: give it the highest "
                       "priority too)"))
    if policy.database and not any(service.exporter == "mysqld" for service in host_settings.services.values()):
        errors.append(((*loc, "database"), "set", "expected a service with exporter 'mysqld' (the MariaDB to "
                       "replicate) on the web hosts"))
    router_ids: dict[int, str] = {}
    addresses = [(("peers", name), peer.address) for name, peer in policy.peers.items()]
    for name, service in policy.sites.items():
        site_loc = (*loc, "sites", name)
        errors += _unknown(site_loc, [name], host_settings.sites, "sites")
        addresses.append((("sites", name), service.address))
        if service.address in claimed:
            errors.append(((*site_loc, "address"), service.address, f"already claimed by {claimed[service.address]}"))
        claimed.setdefault(service.address, f"failover.sites.{name}.address")
        if service.router_id in router_ids:
            errors.append(((*site_loc, "router_id"), service.router_id,
                           f"expected a router_id other than failover.sites.{router_ids[service.router_id]}'s"))
        router_ids.setdefault(service.router_id, name)
    for where, address in addresses:
        if ipaddress.ip_address(address) not in network:
            errors.append(((*loc, *where, "address"), address,
                           f"expected an address inside failover.network ({network}): the hosts' own network"))
    return errors


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
    acme: Acme = Field(Acme(), description="The ACME account of the sites with tls.mode 'acme' (group_data/web.py).")
    hosted_monitors: HostedMonitors = Field(
        HostedMonitors(), description="Hosted external monitors: UptimeRobot and Healthchecks.io (group_data/all.py)."
    )
    heartbeat: Heartbeat = Field(Heartbeat(), description="This host's heartbeat to Healthchecks.io.")
    monitoring: Monitoring = Field(
        Monitoring(),
        description="The external monitor, read on the monitor hosts (e.g. set in group_data/monitors.py).",
    )
    monit: Monit = Field(Monit(), description="Monit on every host.")
    firewall: Firewall = Field(Firewall(), description="The host firewall: what each host lets in, from where.")
    failover: Failover = Field(
        Failover(), description="Service addresses that move between the web hosts (group_data of the web hosts)."
    )
    disposable: bool = Field(
        False, description="A throwaway lab host: the host tests may break it on purpose. Never True in production."
    )
    other_packages_keys: Annotated[list[KeyPattern], AfterValidator(unique)] = Field(
        [],
        description="Top-level keys other pyinfra packages read from the same group_data (e.g. ['docker_*']): "
        "Holdfast leaves them alone. Any other key it does not know stops the deploy (a typo); a pattern may match "
        "none of Holdfast's own keys.",
    )

    def reference_errors(self) -> list[Problem]:
        """Names that point nowhere and values that contradict another, as (key path, value,
        message) triples."""
        errors = [(("monitoring", *loc), value, message) for loc, value, message in self.monitoring.contradictions()]
        for index, pattern in enumerate(self.other_packages_keys):
            if mine := fnmatch.filter(type(self).model_fields, pattern):
                errors.append((("other_packages_keys", index), pattern,
                               f"expected a pattern matching none of Holdfast's keys (it matches {', '.join(mine)})"))
        for index, tier in enumerate(self.escalation.tiers):
            errors += _unknown(("escalation", "tiers", index, "members"), tier.members, self.escalation.contacts,
                               "escalation.contacts")
        for name, site in self.sites.items():
            errors += _unknown(("sites", name, "backend", "service"), [site.backend.service], self.services,
                               "services")
            if site.tls and site.tls.mode == "acme" and self.acme.email is None:
                errors.append((("sites", name, "tls", "mode"), "acme",
                               "expected acme.email set (the ACME account's email) for a site with mode 'acme'"))
        tiers = {tier.name: tier for tier in self.escalation.tiers}
        for key in ("alert_tier", "escalation_tier"):
            errors += _unknown(("monit", key), [getattr(self.monit, key)], tiers, "escalation.tiers (by name)")
        errors += self._placement_errors() + self._supervision_errors() + self._cache_errors()
        return errors + php_fpm_errors(self) + firewall_errors(self) + failover_errors(self)

    def _supervision_errors(self) -> list[Problem]:
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

    @property
    def cache_memory(self) -> int:
        """Bytes the sites' caches may hold in memory: their max_size together and a quarter
        more, for what nginx writes before its cache manager trims a cache to its size."""
        return math.ceil(sum(nginx_bytes(site.stale_cache.max_size)
                             for site in self.sites.values() if site.stale_cache) * 1.25)

    def _cache_errors(self) -> list[Problem]:
        """Caches that nginx's slice has no memory for (their tmpfs is charged to nginx)."""
        limits, cached = self.slice_of("nginx.service"), [name for name, site in self.sites.items() if site.stale_cache]
        if limits is None or not cached:
            return []
        for key in ("MemoryHigh", "MemoryMax"):
            limit = getattr(limits, key)
            if isinstance(limit, int) and self.cache_memory >= limit:
                name = cached[-1]
                return [(("sites", name, "stale_cache", "max_size"), self.sites[name].stale_cache.max_size,
                         f"expected the sites' caches and a quarter more ({self.cache_memory} bytes) below {key} of "
                         f"slice {self.placements['nginx.service']} ({limit}), nginx's: they are held in its memory")]
        return []

    def _placement_errors(self) -> list[Problem]:
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
                errors.append((unit_loc, service.unit, f"already placed by {dotted(placed_by[service.unit])}"))
            placed_by[service.unit] = unit_loc
        return errors

    @property
    def placements(self) -> dict[str, str]:
        """Unit -> key of `slices` it runs in: the critical units, then the services given a slice."""
        if not self.slices:
            return {}
        critical = [*self.critical.units, *(["keepalived.service"] if self.failover.enabled and self.sites else [])]
        placed = dict.fromkeys(critical, self.critical.slice) if self.critical.slice else {}
        placed.update({service.unit: service.slice for service in self.services.values() if service.slice})
        return placed

    def slice_of(self, unit: str) -> Slice | None:
        """The slice ``unit`` is placed in, if any (e.g. to compare a CPU alert with its CPUQuota);
        None for a slice `slices` lacks too (``_placement_errors`` reports it)."""
        return self.slices.get(self.placements.get(unit))


def failover_group_errors(host_settings: HostSettings, web_hosts: list[str]) -> list[Problem]:
    """Peers that are not the hosts of group web (``web_hosts``), and
    failover on for a group of one host: what only the whole inventory shows."""
    policy, loc = host_settings.failover, ("failover",)
    if not policy.enabled or not host_settings.sites:
        return []
    if len(web_hosts) < 2:
        return [((*loc, "enabled"), True, f"expected False for a group of one web host ({', '.join(web_hosts)}): "
                 "the address has nowhere to move; add a second web host first")]
    missing = [name for name in web_hosts if name not in policy.peers]
    errors = [((*loc, "peers"), sorted(policy.peers), f"expected every host of group web: {name} is missing")
              for name in missing]
    return errors + [((*loc, "peers", name), name, f"expected a host of group web ({', '.join(web_hosts)})")
                     for name in policy.peers if name not in web_hosts]


def _unknown(loc: tuple, names: list[str], known: dict, where: str) -> list[Problem]:
    return [
        (loc, name, f"expected a key of {where} ({', '.join(known) or 'none defined'})")
        for name in names
        if name not in known
    ]

