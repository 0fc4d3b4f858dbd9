"""One run of the drill against one lab: the seed's outage, replayed and recorded.

Visitors browse the first web host's site at a normal pace, each from an address of
their own, and the monitor host probes it, from start to end. Two members (visitors
signed in, with a session cookie) browse beside them: nginx never answers them from its
cache, so their figures are the application's own. After an idle baseline comes the
surge, in one of these scenarios:

- ``abuser``: one client floods the site at twenty times its default rate limit (search,
  mostly), and a few seconds in the loop bug is armed once: the next search that reaches
  PHP loops forever.
- ``crowd`` (the seed's surge): two hundred addresses, each a visitor under every
  per-client limit, follow a link (most with a tracking tag of their own), some searching,
  five times what PHP can render uncached in all; a few seconds in the loop bug is armed
  for good: every search for the link's word loops, until the drill heals it.
- the fault matrix (``MATRIX``): the crowd, and instead of the loop bug a fault breaks
  the site, measured the same way: ``php-hung`` (every PHP worker asleep), ``mariadb-down``
  (the database killed), ``web-down`` (the web host dies, and comes back: with Holdfast,
  everyone comes to the site's service address, which the second web host takes over),
  ``relay-down``, ``network-cut``, ``monitor-down`` (the monitor host dies: only the
  hosted dead-man switch is left to tell) and ``disk-full`` (the web host's disk filled to
  the last byte, and freed a while later, as its administrator would once told).

Everything is recorded; ``figures`` turns a record into the numbers the report and the
CI test read.
"""

import asyncio
import contextlib
import functools
import multiprocessing
import os
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import testinfra

from bench.drill import load, watch
from holdfast import bans, loading, php_fpm, providers, replication
from holdfast.monit import filesystem_check_name, timeouts_check_name
from holdfast.providers.model import recipients
from holdfast.settings import HostSettings
from lab.acme import curl_arguments
from lab.crowd import on_the_bridge
from lab.doubles import listening_at
from lab.doubles.healthchecks import SENDALERTS_EVERY, HealthchecksDouble
from lab.harness.deploys import lab_inventory
from lab.harness.failover import bridge_port, bring_back, cut_off, hand_back, served_by, set_link, wait_for_holder
from lab.harness.faults import FILL_FILE, fill_script
from lab.harness.probes import wait_for
from lab.mailsink import MTA, mailbox
from lab.site import LOOP_STARTED_FILE, MEMBER_COOKIE, MEMBER_EXPECT, standin_site
from lab.topology import Lab, LabHost

VISITOR_PATHS = ("/", "/?product=1", "/?product=2", "/?product=3", "/?product=4", "/?product=5")
ATTACKER_PATHS = ("/?s={n}", "/?s={n}", "/?page={n}")  # {n}: a new random number each time
ATTACK_FACTOR = 20  # times the site's default rate
# The crowd: its size and pace (each far under the default class's per-client rate), the
# word of the link's searches that the loop bug is armed for, and what PHP renders uncached
# in a second on the lab's web host (bench/wordpress_capacity.py: 12-14 pages at p99 <= 1 s).
CROWD_SIZE = 200
CROWD_PACE = 0.4  # requests per second, per address: 80 in all
LOOP_WORD = "sale"
UNCACHED_CAPACITY = 14
SURGES = ("abuser", "crowd")  # a surge, and the loop bug in it


@dataclass(frozen=True)
class Fault:
    """A fault of the matrix (issue 17), broken mid-crowd where the crowd's loop bug would be
    armed: the service it breaks (the site's "backend", or its "database"), the shell that
    breaks it on the web host ({unit}: the service's unit; {healthy}: whether the site's
    health page answers there), the events of Monit's mails about it, and the shell that heals it
    after the run (for a twin without Monit); with ``relay_down_for``, the mail relay's MTA is
    stopped just before the break and started that many seconds after it (Monit keeps the
    alert in its event queue meanwhile)."""

    breaks: str
    command: str
    events: tuple[str, ...]
    heal: str
    relay_down_for: float = 0
    probe_only: bool = False  # only Monit's health probe can see it (detect_within)


RELAY_DOWN = "relay-down"
KILL_MAIN = 'pid=$(systemctl show -p MainPID --value {unit}); [ "$pid" -gt 0 ] && kill -9 "$pid"'
FAULTS = {
    # Every PHP worker asleep (the master alive) after answering its request, until the
    # health page no longer answers: PHP-FPM's request timeout does not reach a request that
    # has answered (request_terminate_timeout_track_finished), so only Monit's probe sees it.
    "php-hung": Fault("backend", "for i in $(seq 40); do standin hang; {healthy} || exit 0; done; exit 1",
                      ("Connection failed", "Content match"), "standin heal", probe_only=True),
    # The database killed, as by the OOM killer or a crash.
    "mariadb-down": Fault("database", KILL_MAIN, ("Does not exist",), "systemctl start {unit}"),
    # The same, while the mail relay is down: the alert must arrive once it is back, once.
    RELAY_DOWN: Fault("database", KILL_MAIN, ("Does not exist",), "systemctl start {unit}", relay_down_for=30),
}
# The web host dies mid-crowd without a word and is back DOWN_FOR seconds later, as after a
# power cycle (lab/harness/failover.py). With Holdfast the visitors, the crowd and the
# monitor's probe come to the site's service address (holdfast/failover.py), which the second
# web host takes over; without, to the web host's own (it has no other).
WEB_DOWN = "web-down"
DOWN_FOR = 15  # seconds
# The network between the monitor host and the web host cut for NET_CUT_FOR seconds, both
# hosts up, the visitors served: the monitor must say it lost the host, and see it again.
NET_CUT = "network-cut"
NET_CUT_FOR = 40  # seconds
HOST_DOWN = "HostDown"  # the monitor's alert about a host it cannot scrape (templates/monitoring)
# The monitor host dies mid-crowd, the self-hosted monitor and the mail relay with it: only
# the hosted dead-man switch is left to tell (Healthchecks.io, its double served from this
# machine: lab/doubles), once the host's check has gone without a ping for its timeout and
# grace. It is down that long, and MON_DOWN_MORE seconds more.
MON_DOWN = "monitor-down"
MON_DOWN_MORE = 30  # seconds
HEALTHCHECKS_KEY = "drill-key"  # the double's API key
# The web host's disk (its own: lab/image.py) filled mid-crowd, as by a runaway log, and
# freed DISK_FULL_FOR seconds later, as its administrator would once told: Monit's space
# rule must tell, once, and see it freed; the site served all along.
DISK_FULL = "disk-full"
DISK_FULL_FOR = 25  # seconds: within a short run's surge and cool-down
# Monit's events about a filesystem over its space limit and within it again. Mailed to the
# relay, they are the record: Monit's own log is on the full disk, and loses lines.
SPACE_OVER, SPACE_OK = "Resource limit matched", "Resource limit succeeded"
# disk-full's newcomer: a visitor asking for pages nobody asked for before (a tag of its own
# that the cache key keeps), which nginx must fetch from the application and store.
NEWCOMER_PATHS = ("/?product=1&ref={n}", "/?product=2&ref={n}")
NEWCOMER_PACE = 0.5
MATRIX = (*FAULTS, WEB_DOWN, NET_CUT, MON_DOWN, DISK_FULL)
SCENARIOS = (*SURGES, *MATRIX)
VISITOR_PACE = 1.5  # requests per second, per anonymous visitor (pages nginx may cache)
MEMBER_PACE = 1.0  # per member: every request is rendered by WordPress
# Lab client addresses, one per browser, each under the site's default rate
VISITOR_ADDRESSES = ("visitor", "visitor2")  # anonymous visitors
MEMBER_ADDRESSES = ("visitor3", "visitor4")  # members


@dataclass(frozen=True)
class Timeline:
    """Seconds: the idle baseline, the surge, when into the surge the loop is armed, and
    the quiet after it."""

    idle: float
    surge: float
    loop_after: float
    cooldown: float

    @property
    def total(self) -> float:
        return self.idle + self.surge + self.cooldown


SHORT = Timeline(idle=15, surge=35, loop_after=5, cooldown=5)
FULL = Timeline(idle=20, surge=60, loop_after=10, cooldown=15)


@dataclass
class Record:
    """Everything one run saw, times in seconds since the run began."""

    label: str
    protected: bool
    timeline: Timeline
    monit_cycle: int
    clock_ticks: int  # per second: the unit of the app's CPU time (getconf CLK_TCK on the host)
    request_timeout: float = 0.0  # seconds PHP-FPM lets a request run before it kills it (0: no limit)
    scenario: str = "abuser"  # one of SCENARIOS
    broken: float | None = None  # a fault's: when its command broke the service (None: it failed)
    hits: list[load.Hit] = field(default_factory=list)
    app: list[tuple[float, list[str]]] = field(default_factory=list)
    probes: list[tuple[float, list[str]]] = field(default_factory=list)
    ssh: list[tuple[float, float]] = field(default_factory=list)
    monit: list[tuple[float, float]] = field(default_factory=list)
    loop_armed: float | None = None  # when `standin arm-loop` returned success (None: it failed)
    loop_started: float | None = None  # when the armed search began looping, as the stand-in recorded it
    # (time, CPU seconds the looping worker had used), as it recorded them from its start on
    loop_cpu: list[tuple[float, float]] = field(default_factory=list)
    monit_log: list[tuple[float, str]] = field(default_factory=list)
    slow_log_loops: int | None = None  # the loop's PHP stacks PHP-FPM's slow log gained (None: no pool of Holdfast's)
    alerts: dict[str, list[float]] = field(default_factory=dict)
    # web-down with failover: who answered at the service address (None: nobody)
    holders: list[tuple[float, str | None]] = field(default_factory=list)
    back: float | None = None  # an outage's (the dead web host, the relay): when what it cut was back
    # the seconds within which the fault must be seen, where another bound than the pool's
    # request timeout and two Monit cycles holds (0: none; ``detect_within``)
    detect_within: float = 0.0
    # network-cut: when the monitor's HostDown alert about the host was firing, and the host's
    # `up` as it scraped it (1: up); monitor-down: when Healthchecks.io said the monitor host
    # down, and up again (1); disk-full: when Monit's mails said the disk over its space limit,
    # and within it again (1)
    monitor_alerts: list[float] = field(default_factory=list)
    monitor_up: list[tuple[float, float]] = field(default_factory=list)
    # web-down with a replicated database: how far the standby's replica was behind (seconds)
    replica_lag: list[tuple[float, float]] = field(default_factory=list)

    @property
    def fault_started(self) -> float | None:
        """When the fault began: the loop's start as the host recorded it, or the break."""
        return self.broken if self.scenario in MATRIX else self.loop_started


def _surge(clients: list[load.Client], address: str, host_name: str, started: float, begin: float, until: float,
           niceness: int, queue) -> None:
    """The surge's clients, in a process of their own so their load does not slow the
    visitors' clock, each starting at its own moment of its first interval (a crowd does not
    click in step). The attacker is niced: on this one machine its TLS handshakes take the
    CPU the visitors' client and the lab's hosts need, which a real attacker's never does;
    the crowd is not (its figures are goals), and keeps its connections, as browsers do."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))  # a socket per request in flight
    os.nice(niceness)
    hits: list[load.Hit] = []

    async def all_of_them():
        await asyncio.gather(*(
            load.run_client(client, address, host_name, started, begin + index / len(clients) / client.per_second,
                            until, hits) for index, client in enumerate(clients)))

    asyncio.run(all_of_them())
    queue.put(hits)


def _say(label: str, message: str) -> None:
    print(f"[drill {label}] {message}", file=sys.stderr, flush=True)


def tls_lab(lab: Lab, site, protected: bool) -> Lab | None:
    """The lab whose ACME CA the clients trust, when they talk HTTPS: a site with tls under
    Holdfast (the unprotected twin serves plain HTTP)."""
    return lab if protected and site.tls else None


def browsers(lab: Lab, site, protected: bool) -> list[load.Client]:
    """Anonymous visitors, who ask for the shop's pages (nginx may cache them), and members,
    whose pages only PHP can answer; each from an address of their own."""
    tls = tls_lab(lab, site, protected)

    def name(kind: str, index: int) -> str:
        return f"{kind}{index + 1 if index else ''}"

    return [
        *(load.Client(name("visitor", index), lab.client_addresses[address], VISITOR_PACE, VISITOR_PATHS, 10,
                      expect=site.content_expect, tls_lab=tls) for index, address in enumerate(VISITOR_ADDRESSES)),
        *(load.Client(name("member", index), lab.client_addresses[address], MEMBER_PACE, VISITOR_PATHS, 10,
                      expect=MEMBER_EXPECT, headers=(f"Cookie: {MEMBER_COOKIE}",), tls_lab=tls)
          for index, address in enumerate(MEMBER_ADDRESSES)),
    ]


def newcomer(lab: Lab, site, protected: bool) -> load.Client:
    """A visitor whose every page is new to the cache (from the second visitor's address)."""
    return load.Client("newcomer", lab.client_addresses[VISITOR_ADDRESSES[1]], NEWCOMER_PACE, NEWCOMER_PATHS, 10,
                       expect=site.content_expect, tls_lab=tls_lab(lab, site, protected))


def crowd(lab: Lab, site, protected: bool, addresses: list[str]) -> list[load.Client]:
    """A visitor per address, following the link to a product page, most with a tracking tag
    of their own (70 %), some searching (10 %; one in ten of those for the link's word, which
    the loop bug is armed for), each at CROWD_PACE, far under the default class's rate."""
    tls = tls_lab(lab, site, protected)
    clients = []
    for index, source in enumerate(addresses):
        product = f"/?product={index % 5 + 1}"
        word = LOOP_WORD if index % 10 == 0 else "boots"
        paths = (*[f"{product}&utm_source=link&utm_id={{n}}"] * 7, "/", product, f"/?s={word}+{{n}}")
        turn = (index + index // 10) % len(paths)  # who searches when: spread, those for the word too
        clients.append(load.Client(f"crowd{index + 1}", source, CROWD_PACE, paths[turn:] + paths[:turn], 10,
                                   expect=site.content_expect, tls_lab=tls, keep_alive=True))
    return clients


def is_search(path: str) -> bool:
    return "?s=" in path


def hits_the_bug(path: str) -> bool:
    """A crowd's search for the word the loop bug is armed for."""
    return is_search(path) and f"s={LOOP_WORD}+" in path


@dataclass
class Watchers:
    """What watches the run from start to end: the app sampler on the web host, the monitor
    host's probes, ssh and (with Holdfast) Monit round trips from this machine."""

    app: watch.Sampler
    probes: watch.Sampler
    ssh: watch.Poller
    monit: watch.Poller | None
    holders: watch.Poller | None
    replica: tuple[watch.Sampler, watch.Sampler] | None = None  # the heartbeat's writer and the lag's sampler

    @classmethod
    def start(cls, lab: Lab, web: LabHost, host_settings: HostSettings, protected: bool, target: str) -> "Watchers":
        """Watching ``web``, and the site at ``target`` (with failover, who answers there)."""
        site = standin_site(host_settings)
        web_remote, monitor_remote = watch.Remote(lab, web), watch.Remote(lab, lab.group("monitors")[0])
        tls = bool(tls_lab(lab, site, protected))
        return cls(
            app=watch.app_sampler(web_remote, host_settings.services[site.backend.service].unit, site, tls).start(),
            probes=watch.probe_sampler(monitor_remote, target, site.server_names[0], site.content_path, tls).start(),
            ssh=watch.round_trips(web_remote.command("true"), every=1).start(),
            monit=watch.round_trips(web_remote.command("monit -B summary"), every=2).start() if protected else None,
            holders=watch.holders(target, site.server_names[0], tls).start() if target != web.address else None,
            replica=_replica_watch(lab, web, host_settings) if protected and target != web.address else None,
        )

    def stop(self, record: Record, epoch: float) -> None:
        """Stop them all; their samples into ``record``, timed from ``epoch``."""
        record.app, record.probes = since_epoch(self.app.stop(), epoch), since_epoch(self.probes.stop(), epoch)
        record.ssh = since_epoch(self.ssh.stop(), epoch)
        record.monit = since_epoch(self.monit.stop(), epoch) if self.monit else []
        record.holders = since_epoch(self.holders.stop(), epoch) if self.holders else []
        if self.replica:
            writer, sampler = self.replica
            writer.stop()
            record.replica_lag = [(when - epoch, int(values[0]) / 1e6) for when, values in sampler.stop()
                                  if values and values[0].isdigit()]


def _replica_watch(lab: Lab, web: LabHost, host_settings: HostSettings) -> tuple[watch.Sampler, watch.Sampler] | None:
    """With a replicated database whose primary is ``web``: the heartbeat written there, and
    its age read on the standby (the first other web host)."""
    if not replication.active(host_settings) or host_settings.failover.database.primary != web.name:
        return None
    standby = next(host for host in lab.group("web") if host.name != web.name)
    return (watch.heartbeat_writer(watch.Remote(lab, web)).start(),
            watch.replica_lag_sampler(watch.Remote(lab, standby)).start())


def since_epoch(samples: list[tuple], epoch: float) -> list[tuple]:
    """(time, ...) samples, their times made seconds since ``epoch`` (the run's start)."""
    return [(when - epoch, rest) for when, rest in samples]


def broken_service(scenario: str, host_settings: HostSettings) -> str:
    """The key of ``services`` a fault scenario breaks: the site's backend, or its database."""
    if FAULTS[scenario].breaks == "backend":
        return standin_site(host_settings).backend.service
    return next(name for name, service in host_settings.services.items() if service.exporter == "mysqld")


def breaking(scenario: str, host_settings: HostSettings, tls: bool) -> tuple[str, str]:
    """What a run of ``scenario`` breaks ``timeline.loop_after`` into the surge: as the run
    says it, and as a shell command on the web host."""
    if scenario == "crowd":
        return (f"the loop bug is armed for good: every search for '{LOOP_WORD}' that reaches PHP loops",
                f"standin arm-loop persistent {LOOP_WORD}")
    if scenario == "abuser":
        return "the loop bug is armed: the next search that reaches PHP loops forever", "standin arm-loop"
    if scenario in (WEB_DOWN, NET_CUT, MON_DOWN, DISK_FULL):
        return f"{scenario}: the outage is the fault", ""  # outage_of
    site, service = standin_site(host_settings), broken_service(scenario, host_settings)
    healthy = (f"curl -s -m 2 {curl_arguments(site.server_names[0], '127.0.0.1', site.health_path, tls)} "
               f"| grep -qF {shlex.quote(site.health_expect)}")
    return (f"{scenario}: {service} is broken",
            FAULTS[scenario].command.format(unit=host_settings.services[service].unit, healthy=healthy))


@dataclass
class Outage:
    """What a fault cuts off from its break on, ``cut``, and brings back ``down_for`` seconds
    later, ``restore``; ``back``: when it was (epoch)."""

    said: str
    cut: Callable[[], object]
    restore: Callable[[], object]
    down_for: float
    back: float | None = None

    def bring_back(self) -> None:
        self.restore()
        self.back = time.time()


def web_host_outage(lab: Lab, web: LabHost, failover: bool) -> Outage:
    """web-down's: ``web`` cut off the lab's bridge and back as after a power cycle; with
    failover, its keepalived stopped behind the cut and started afresh
    (lab/harness/failover.py); without, only the link."""
    host = testinfra.get_host(f"paramiko://{web.name}", ssh_config=str(lab.ssh_config))
    port = bridge_port(host)
    said = f"{web.name} cut off the lab for {DOWN_FOR:g}s"
    if failover:
        return Outage(said, functools.partial(cut_off, host, port), functools.partial(bring_back, host, port), DOWN_FOR)
    return Outage(said, functools.partial(set_link, port, "down"), functools.partial(set_link, port, "up"), DOWN_FOR)


def monitor_host_outage(lab: Lab, host_settings: HostSettings) -> Outage:
    """monitor-down's: the monitor host cut off the lab's bridge, as powered off, until its
    heartbeat's check has gone down (``monitor_down_for``), and back."""
    monitor = lab.group("monitors")[0]
    port = bridge_port(testinfra.get_host(f"paramiko://{monitor.name}", ssh_config=str(lab.ssh_config)))
    down_for = monitor_down_for(host_settings)
    return Outage(f"{monitor.name} cut off the lab for {down_for:g}s", functools.partial(set_link, port, "down"),
                  functools.partial(set_link, port, "up"), down_for)


def monitor_down_for(host_settings: HostSettings) -> float:
    """How long the monitor host stays dead: its heartbeat's period, its check's timeout and
    grace, and MON_DOWN_MORE seconds."""
    beat = host_settings.heartbeat
    return beat.every + beat.timeout + beat.grace + MON_DOWN_MORE


def relay_outage(lab: Lab, host_settings: HostSettings, down_for: float) -> Outage:
    """The mail relay's MTA (the lab's mail sink) stopped, and started again."""
    relay = watch.Remote(lab, next(host for host in lab.hosts if host.name == host_settings.mail.relay))
    return Outage(f"the mail relay {relay.host.name} down for {down_for:g}s",
                  functools.partial(relay.run, f"systemctl stop {MTA}", check=True),
                  functools.partial(relay.run, f"systemctl start {MTA}", check=True), down_for)


def cut_routes(lab: Lab, web: LabHost, action: str) -> list[tuple[LabHost, str]]:
    """The commands that ``add`` (or ``del``) the network cut between the monitor host and
    ``web``: on each, a blackhole route to the other (iproute2: the lab's hosts without
    Holdfast have no nftables), so that neither's packets reach the other, both ways."""
    monitor = lab.group("monitors")[0]
    return [(host, f"ip route {action} blackhole {peer.address}/32") for host, peer in ((web, monitor), (monitor, web))]


def network_cut(lab: Lab, web: LabHost) -> Outage:
    """The network between the monitor host and ``web`` cut, and mended."""
    def run(action: str) -> None:
        for host, command in cut_routes(lab, web, action):
            watch.Remote(lab, host).run(command, check=True)

    return Outage(f"the network between {lab.group('monitors')[0].name} and {web.name} cut for {NET_CUT_FOR:g}s",
                  functools.partial(run, "add"), functools.partial(run, "del"), NET_CUT_FOR)


def disk_fill(lab: Lab, web: LabHost) -> Outage:
    """disk-full's: ``web``'s disk filled, and the file removed."""
    remote = watch.Remote(lab, web)
    return Outage(f"{web.name}'s disk full for {DISK_FULL_FOR:g}s",
                  functools.partial(remote.run, fill_script(), check=True),
                  functools.partial(remote.run, f"rm -f {FILL_FILE}", check=True), DISK_FULL_FOR)


def outage_of(scenario: str, lab: Lab, web: LabHost, host_settings: HostSettings, protected: bool) -> Outage | None:
    """What ``scenario`` cuts off for a while: the web host, the network between it and the
    monitor, the monitor host, or (with Holdfast: without, nobody is mailed) the mail relay."""
    if scenario == WEB_DOWN:
        return web_host_outage(lab, web, protected)
    if scenario == NET_CUT:
        return network_cut(lab, web)
    if scenario == MON_DOWN:
        return monitor_host_outage(lab, host_settings)
    if scenario == DISK_FULL:
        return disk_fill(lab, web)
    if protected and scenario in FAULTS and FAULTS[scenario].relay_down_for:
        return relay_outage(lab, host_settings, FAULTS[scenario].relay_down_for)
    return None


def _break(label: str, said: str, action: Callable[[], object]) -> float | None:
    """``action``, which breaks the site: the time it returned, None if it failed."""
    _say(label, said)
    try:
        action()
    except (watch.RemoteFailed, AssertionError, subprocess.CalledProcessError) as failed:
        _say(label, f"that failed: {failed}")
        return None
    return time.time()


async def _traffic(clients: list[load.Client], address: str, host_name: str, started: float, until: float,
                   hits: list[load.Hit], label: str) -> None:
    """The visitors and members until ``until``, with a line of progress every five seconds."""
    async def progress():
        while time.monotonic() < until:
            await asyncio.sleep(5)
            served = {kind: [hit.ok for hit in hits if hit.client.startswith(kind)] for kind in ("visitor", "member")}
            _say(label, f"{time.monotonic() - started:5.0f}s: " + ", ".join(
                f"{kind}s {sum(oks)}/{len(oks)} served" for kind, oks in served.items()))

    await asyncio.gather(
        *(load.run_client(client, address, host_name, started, started, until, hits) for client in clients),
        progress(),
    )


async def _surge_and_break(web_remote: watch.Remote, timeline: Timeline, surge: float, clients: list[load.Client],
                           label: str, scenario: str, broken: tuple[str, str], outage: Outage | None) -> float | None:
    """Announce the surge (its process starts it on its own), break what ``breaking`` says
    ``timeline.loop_after`` seconds into it, an ``outage`` first (brought back its
    ``down_for`` seconds later); when the break returned success (None: failed)."""
    await asyncio.sleep(max(0.0, surge - time.monotonic()))
    rate = sum(client.per_second for client in clients)
    _say(label, f"surge: the attacker floods at {ATTACK_FACTOR}x the rate limit ({rate:g} r/s)" if scenario == "abuser"
         else f"surge: a crowd of {len(clients)} addresses, {rate:g} r/s in all")
    await asyncio.sleep(max(0.0, surge + timeline.loop_after - time.monotonic()))
    said, command = broken
    cut = await asyncio.to_thread(_break, label, f"begins: {outage.said}", outage.cut) if outage else None
    armed = await asyncio.to_thread(_break, label, said, functools.partial(web_remote.run, command, check=True)) \
        if command else cut
    if cut is not None:
        await asyncio.sleep(max(0.0, cut + outage.down_for - time.time()))
        _say(label, f"ends: {outage.said}")
        await asyncio.to_thread(outage.bring_back)
    return armed


async def _gathered(*awaitables) -> list:
    return await asyncio.gather(*awaitables)


def _loop_cpu(web_remote: watch.Remote) -> list[tuple[float, float]]:
    """(epoch seconds, CPU seconds its worker had used) as the looping search wrote them, the
    first when it began; none if it never did."""
    text = web_remote.run(f"cat {LOOP_STARTED_FILE} 2>/dev/null")
    return [(float(when), float(used)) for when, used in (line.split() for line in text.splitlines() if line.strip())]


def alert_subjects(service: str) -> tuple[str, str]:
    """What the subject of Monit's mail about the loop contains (templates/monit/etc/monit/monitrc.j2):
    the service over its CPU limit (Monit restarts it), or the request PHP-FPM killed."""
    return f"{service}: Resource limit matched", f"{timeouts_check_name(service)}: Content match"


def fault_subjects(scenario: str, host_settings: HostSettings, host: str = "") -> tuple[str, ...]:
    """What the subject of Monit's mail about a fault contains: the broken service's events
    (a hung backend's killed requests are its timeouts check's); the monitor's alert that the
    site's service address moved, for a dead web host, and that ``host`` is down, for the
    network to it cut (templates/monitoring)."""
    if scenario == WEB_DOWN:
        return tuple(f"ServiceAddressMoved on {site.address} " for site in host_settings.failover.sites.values())
    if scenario == NET_CUT:
        return (f"{HOST_DOWN} on {host} ",)
    if scenario == DISK_FULL:
        return (f"{filesystem_check_name('/')}: {SPACE_OVER}",)
    service = broken_service(scenario, host_settings)
    return tuple(f"{timeouts_check_name(service) if event == 'Content match' else service}: {event}"
                 for event in FAULTS[scenario].events)


def _monit_and_alerts(lab: Lab, web_remote: watch.Remote, host_settings: HostSettings, record: Record,
                      epoch: float) -> None:
    """Monit's events about the stand-in's service, the requests PHP-FPM killed in it and a
    fault's broken service, and each tier-1 contact's alert mails about the loop or the
    fault, into ``record``."""
    service = standin_site(host_settings).backend.service
    checks = {service, timeouts_check_name(service)}
    if record.scenario in FAULTS:
        checks.add(broken_service(record.scenario, host_settings))
    subjects = fault_subjects(record.scenario, host_settings, web_remote.host.name) if record.scenario in MATRIX \
        else alert_subjects(service)
    log = web_remote.run("cat /var/log/monit.log")
    record.monit_log = sorted(since_epoch([event for check in sorted(checks)
                                           for event in watch.monit_events(log, check, epoch)], epoch))
    relay = watch.Remote(lab, next(h for h in lab.hosts if h.name == host_settings.mail.relay))
    for address in host_settings.escalation.tier_emails(host_settings.monit.alert_tier):
        text = relay.run(f"cat {mailbox(address)} 2>/dev/null")
        record.alerts[address] = sorted(when - epoch for subject in subjects
                                        for when in watch.delivered(text, subject) if when >= epoch)
        if record.scenario == DISK_FULL:
            ok = [when - epoch for when in watch.delivered(text, f"{filesystem_check_name('/')}: {SPACE_OK}")
                  if when >= epoch]
            record.monitor_alerts = sorted({*record.monitor_alerts, *record.alerts[address]})
            record.monitor_up = sorted({*record.monitor_up, *((when, 1.0) for when in ok)})


def _monitors_view(lab: Lab, web: LabHost, host_settings: HostSettings, record: Record, epoch: float) -> None:
    """How the monitor host saw ``web`` over the run, into ``record``: its alert that the
    host is down firing, and its scrapes of it."""
    monitor = watch.Remote(lab, lab.group("monitors")[0])
    up = f'up{{job="nodes",host="{web.name}"}}'
    if record.back is not None:  # until its first scrape of the host after the cut's end
        wait_for(lambda: any(value == 1 for _, value in watch.prometheus_range(monitor, up, epoch + record.back,
                                                                               time.time())), timeout=60, interval=2)
    record.monitor_alerts = [when - epoch for when, _ in watch.prometheus_range(
        monitor, f'ALERTS{{alertstate="firing",alertname="{HOST_DOWN}",host="{web.name}"}}', epoch, time.time())]
    record.monitor_up = since_epoch(watch.prometheus_range(monitor, up, epoch, time.time()), epoch)


@contextlib.contextmanager
def hosted_heartbeats(host_settings: HostSettings):
    """The Healthchecks.io double where the lab's hosts ping, with an integration named after
    every address of the escalation plan, and a check for every host of the lab made by
    Holdfast's own client (holdfast/providers), as a deploy makes them; yielded once every
    check has been pinged (a check never pinged never goes down)."""
    hosted = host_settings.hosted_monitors
    ping_key = os.environ.get(hosted.healthchecks.ping_key_env, "lab-ping-key")
    with HealthchecksDouble(HEALTHCHECKS_KEY, ping_key, **listening_at(hosted.healthchecks.api_url)) as double:
        for recipient in recipients(host_settings.escalation):
            double.add_channel(recipient.address)
        providers.apply(providers.plan("healthchecks", loading.load(lab_inventory()), hosted,
                                       {hosted.healthchecks.api_key_env: HEALTHCHECKS_KEY}))
        if not wait_for(lambda: double.checks and all(check["status"] == "up" for check in double.checks.values()),
                        timeout=2 * host_settings.heartbeat.every + 10):
            raise RuntimeError(f"not every lab host pinged its Healthchecks.io check: {list(double.checks.values())}")
        yield double


def _hosted_view(double: HealthchecksDouble, lab: Lab, host_settings: HostSettings, record: Record,
                 epoch: float) -> None:
    """What Healthchecks.io told about the monitor host, into ``record``: when it said the
    host down and up again, and when it told each first-tier address it was down (once it
    said it up again, or a heartbeat's period and a few seconds after its return)."""
    monitor = lab.group("monitors")[0].name

    def told(status: str) -> list[float]:
        return [note.at - epoch for note in double.notifications if note.check == monitor and note.status == status]

    if record.back is not None:
        wait_for(lambda: [when for when in told("up") if when >= record.back],
                 timeout=host_settings.heartbeat.every + 5)
    record.monitor_alerts = sorted(set(told("down")))
    record.monitor_up = [(when, 1.0) for when in sorted(set(told("up")))]
    for recipient in recipients(host_settings.escalation):
        if not recipient.delay:
            record.alerts[recipient.address] = sorted(
                note.at - epoch for note in double.notifications
                if note.check == monitor and note.status == "down" and note.channel == recipient.address)


def detect_within(scenario: str, host_settings: HostSettings) -> float:
    """The seconds within which Holdfast must see ``scenario``'s fault, where the pool's
    request timeout and two Monit cycles do not hold (0.0): the monitor's host_down_after,
    two scrapes and an evaluation, for the network cut; the monitor host's heartbeat period,
    its check's timeout and grace, and a pass of the service's alert loop, for the monitor
    host dead; for a fault only Monit's health probe sees (a hang after the answer, which the
    pool's timeout does not reach), the probe's failed cycles, each a cycle and the probe's
    timeout, and one cycle more to the first; for the disk full, the cycles Monit's space
    rule waits before it alerts, and one more to its first check after the fill (a cycle
    under a crowd is longer than the cycle asked for: the probes it runs take their time)."""
    if scenario == MON_DOWN:
        beat = host_settings.heartbeat
        return beat.every + beat.timeout + beat.grace + SENDALERTS_EVERY
    if scenario == NET_CUT:
        monitoring = host_settings.monitoring
        return monitoring.host_down_after + 2 * monitoring.scrape_interval + monitoring.evaluation_interval
    if scenario == DISK_FULL:
        return float((host_settings.monit.filesystems.cycles + 1) * host_settings.monit.cycle)
    if scenario in FAULTS and FAULTS[scenario].probe_only:
        rules = host_settings.services[broken_service(scenario, host_settings)].supervision
        return (rules.health_cycles + 1) * (host_settings.monit.cycle + rules.health_timeout)
    return 0.0


def request_timeout(host_settings: HostSettings, service: str) -> float:
    """The seconds PHP-FPM's pool gives a request of ``service`` (0: no pool of Holdfast's)."""
    pool = host_settings.services[service].php_fpm
    return float(pool.request_terminate_timeout) if pool else 0.0


def run(label: str, lab: Lab, host_settings: HostSettings, protected: bool, timeline: Timeline,
        scenario: str = "abuser") -> Record:
    """Run the drill's ``scenario`` once against ``lab``'s first web host; return what it
    recorded. The crowd's addresses are on the lab's bridge for the run only."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}")
    with contextlib.ExitStack() as stack:
        addresses = stack.enter_context(on_the_bridge(lab, CROWD_SIZE)) if scenario != "abuser" else []
        hosted = stack.enter_context(hosted_heartbeats(host_settings)) if protected and scenario == MON_DOWN else None
        return _run(label, lab, host_settings, protected, timeline, scenario, addresses, hosted)


def _run(label: str, lab: Lab, host_settings: HostSettings, protected: bool, timeline: Timeline, scenario: str,
         addresses: list[str], hosted: HealthchecksDouble | None) -> Record:
    web = lab.group("web")[0]
    web_remote = watch.Remote(lab, web)
    site = standin_site(host_settings)
    host_name = site.server_names[0]
    failover = protected and scenario == WEB_DOWN
    outage = outage_of(scenario, lab, web, host_settings, protected)
    target = lab.service_address if failover else web.address  # where everyone comes to the site
    record = Record(label, protected, timeline, host_settings.monit.cycle, int(web_remote.run("getconf CLK_TCK")),
                    request_timeout(host_settings, site.backend.service) if protected else 0.0, scenario,
                    detect_within=detect_within(scenario, host_settings))
    web_remote.run("standin heal", check=True)
    tls = bool(tls_lab(lab, site, protected))
    for path in VISITOR_PATHS:  # a warm cache, as a site that has had visitors has
        web_remote.run(f"curl -s -o /dev/null {curl_arguments(host_name, '127.0.0.1', path, tls)}")
    if scenario != "abuser":
        surging, niceness = crowd(lab, site, protected, addresses), 0
    else:
        surging, niceness = [load.Client(
            "attacker", lab.client_addresses["attacker"], ATTACK_FACTOR * site.limits.default.per_second,
            ATTACKER_PATHS, timeout=10, tls_lab=tls_lab(lab, site, protected))], 10

    slow_log = php_fpm.slowlog(site.backend.service, host_settings.services[site.backend.service]) \
        if protected and record.request_timeout else None
    slow_log_size = int(web_remote.run(f"stat -c %s {slow_log} 2>/dev/null || echo 0")) if slow_log else 0

    epoch, started = time.time(), time.monotonic()
    watchers = Watchers.start(lab, web, host_settings, protected, target)
    surge = started + timeline.idle
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    surging_process = spawn.Process(target=_surge, args=(surging, target, host_name, started, surge,
                                                         surge + timeline.surge, niceness, queue))
    surging_process.start()  # it waits for the surge

    _say(label, f"{scenario}: idle baseline for {timeline.idle:g}s, then the surge for {timeline.surge:g}s")
    browsing = browsers(lab, site, protected)
    if scenario == DISK_FULL:
        browsing.append(newcomer(lab, site, protected))
    _, armed = asyncio.run(_gathered(
        _traffic(browsing, target, host_name, started, started + timeline.total, record.hits, label),
        _surge_and_break(web_remote, timeline, surge, surging, label, scenario, breaking(scenario, host_settings, tls),
                         outage),
    ))
    record.hits += queue.get(timeout=timeline.total + 60)
    surging_process.join(timeout=30)
    watchers.stop(record, epoch)
    if outage:
        if outage.back is None:  # the cut failed midway
            outage.restore()
        record.back = outage.back - epoch if outage.back is not None else None
    if scenario in MATRIX:
        record.broken = armed - epoch if armed is not None else None
    else:
        record.loop_armed = armed - epoch if armed is not None else None
    record.loop_cpu = [(when - epoch, used) for when, used in _loop_cpu(web_remote)]
    record.loop_started = record.loop_cpu[0][0] if record.loop_cpu else None
    if protected and scenario != MON_DOWN:
        _monit_and_alerts(lab, web_remote, host_settings, record, epoch)
    if protected and scenario == NET_CUT:
        _monitors_view(lab, web, host_settings, record, epoch)
    if hosted:
        _hosted_view(hosted, lab, host_settings, record, epoch)
    if slow_log:
        record.slow_log_loops = int(web_remote.run(
            f"tail -c +{slow_log_size + 1} {slow_log} | grep -c 'standin_busy_loop()' || true") or 0)
    web_remote.run("standin heal")
    if scenario in FAULTS:
        service = host_settings.services[broken_service(scenario, host_settings)]
        web_remote.run(FAULTS[scenario].heal.format(unit=service.unit))
    if watchers.replica:  # the heartbeat's database, replicated: dropped on the primary
        web_remote.run(f"mariadb -e 'DROP DATABASE IF EXISTS {watch.HEARTBEAT_DATABASE}'")
    if protected and bans.active(host_settings):  # the abuser's ban (holdfast/bans.py) ends with the drill
        web_remote.run("fail2ban-client unban --all")
    if failover:  # the lab as it was: the address back on the web host, handed back by its holder
        holder = served_by(target, host_name, tls=tls)
        if holder not in (None, web.name):
            _say(label, f"{holder} hands {target} back to {web.name}")
            hand_back(testinfra.get_host(f"paramiko://{holder}", ssh_config=str(lab.ssh_config)))
        # the healthy web host takes it at once; otherwise by itself, once it waited out preempt_delay
        if wait_for_holder(target, host_name, web.name, timeout=host_settings.failover.preempt_delay + 30,
                           tls=tls) is None:
            _say(label, f"{target} did not return to {web.name}")
    _say(label, "done")
    return record
