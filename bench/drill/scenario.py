"""One run of the drill against one lab: the seed's outage, replayed and recorded.

Visitors browse the first web host's site at a normal pace from two addresses of their
own, and the monitor host probes it, from start to end. After an idle baseline an
attacker floods the site at twenty times its default rate limit (search, mostly), and a
few seconds into the surge the stand-in's loop bug is armed: the next search that
reaches PHP loops forever, as the seed's did. Everything is recorded; ``figures`` turns
a record into the numbers the report and the CI test read.
"""

import asyncio
import multiprocessing
import resource
import sys
import time
from dataclasses import dataclass, field

from bench.drill import load, watch
from holdfast.settings import HostSettings
from lab.acme import curl_arguments
from lab.mailsink import mailbox
from lab.site import LOOP_ARMED_FILE, standin_site
from lab.topology import Lab

VISITOR_PATHS = ("/", "/?product=1", "/?product=2", "/?product=3", "/?product=4", "/?product=5")
ATTACKER_PATHS = ("/search?q={n}", "/search?q={n}", "/?page={n}")  # {n}: a new random number each time
ATTACK_FACTOR = 20  # times the site's default rate
VISITOR_PACE = 2.0  # requests per second, per visitor


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
    hits: list[load.Hit] = field(default_factory=list)
    app: list[tuple[float, list[str]]] = field(default_factory=list)
    probes: list[tuple[float, list[str]]] = field(default_factory=list)
    ssh: list[tuple[float, float]] = field(default_factory=list)
    monit: list[tuple[float, float]] = field(default_factory=list)
    loop_started: float | None = None
    monit_log: list[tuple[float, str]] = field(default_factory=list)
    alerts: dict[str, list[float]] = field(default_factory=dict)


def _attack(client: load.Client, address: str, host_name: str, started: float, begin: float, until: float,
            queue) -> None:
    """The attacker, in a process of its own so its load does not slow the visitors' clock."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))  # a socket per request in flight
    hits: list[load.Hit] = []
    asyncio.run(load.run_client(client, address, host_name, started, begin, until, hits))
    queue.put(hits)


def _say(label: str, message: str) -> None:
    print(f"[drill {label}] {message}", file=sys.stderr, flush=True)


async def _visitors(clients, address, host_name, started, until, hits, label) -> None:
    """The visitors until ``until``, with a line of progress every five seconds."""
    async def progress():
        while time.monotonic() < until:
            await asyncio.sleep(5)
            visits = [hit for hit in hits if hit.client.startswith("visitor")]
            good = sum(hit.ok for hit in visits)
            _say(label, f"{time.monotonic() - started:5.0f}s: visitors {good}/{len(visits)} served")

    await asyncio.gather(
        *(load.run_client(client, address, host_name, started, started, until, hits) for client in clients),
        progress(),
    )


def run(label: str, lab: Lab, host_settings: HostSettings, protected: bool, timeline: Timeline) -> Record:
    """Run the drill once against ``lab``'s first web host; return what it recorded."""
    web, monitor = lab.group("web")[0], lab.group("monitors")[0]
    web_remote, monitor_remote = watch.Remote(lab, web), watch.Remote(lab, monitor)
    site = standin_site(host_settings)
    service = host_settings.services[site.backend.service]
    rate = site.limits.default.per_second
    record = Record(label, protected, timeline, host_settings.monit.cycle, int(web_remote.run("getconf CLK_TCK")))
    web_remote.run("standin heal")

    host_name = site.server_names[0]
    tls = protected and bool(site.tls)  # the unprotected twin serves plain HTTP
    tls_lab = lab if tls else None
    visitors = [
        load.Client(client, lab.client_addresses[client], VISITOR_PACE, VISITOR_PATHS, timeout=10,
                    expect=site.content_expect, tls_lab=tls_lab)
        for client in ("visitor", "visitor2")
    ]
    attacker = load.Client("attacker", lab.client_addresses["attacker"], ATTACK_FACTOR * rate, ATTACKER_PATHS,
                           timeout=10, tls_lab=tls_lab)
    for path in VISITOR_PATHS:  # a warm cache, as a site that has had visitors has
        web_remote.run(f"curl -s -o /dev/null {curl_arguments(host_name, '127.0.0.1', path, tls)}")
    epoch, started = time.time(), time.monotonic()
    samplers = [
        watch.app_sampler(web_remote, service.unit, site, tls).start(),
        watch.probe_sampler(monitor_remote, web.address, host_name, site.content_path, tls).start(),
    ]
    ssh = watch.RoundTrips(web_remote.command("true"), every=1).start()
    monit = watch.RoundTrips(web_remote.command("monit -B summary"), every=2).start() if protected else None
    surge = started + timeline.idle
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    attack = spawn.Process(
        target=_attack, args=(attacker, web.address, host_name, started, surge, surge + timeline.surge, queue)
    )
    attack.start()  # it waits for the surge

    def arm_the_loop():
        _say(label, "the loop bug is armed: the next search that reaches PHP loops forever")
        web_remote.run("standin arm-loop")
        return watch.loop_start(web_remote, LOOP_ARMED_FILE).start()

    async def scenario():
        loop_start = None

        async def surge_and_loop():
            nonlocal loop_start
            await asyncio.sleep(max(0.0, surge - time.monotonic()))
            _say(label, f"surge: the attacker floods at {ATTACK_FACTOR}x the rate limit ({attacker.per_second:g} r/s)")
            await asyncio.sleep(max(0.0, surge + timeline.loop_after - time.monotonic()))
            loop_start = await asyncio.to_thread(arm_the_loop)

        await asyncio.gather(
            _visitors(visitors, web.address, host_name, started, started + timeline.total, record.hits, label),
            surge_and_loop(),
        )
        return loop_start

    _say(label, f"idle baseline for {timeline.idle:g}s, then the surge for {timeline.surge:g}s")
    loop_start = asyncio.run(scenario())
    record.hits += queue.get(timeout=timeline.total + 60)
    attack.join(timeout=30)

    def since_epoch(samples: list[tuple]) -> list[tuple]:
        """(time, ...) samples, their times made seconds since the run began."""
        return [(when - epoch, rest) for when, rest in samples]

    record.app, record.probes = (since_epoch(sampler.stop()) for sampler in samplers)
    record.ssh = since_epoch(ssh.stop())
    record.monit = since_epoch(monit.stop()) if monit else []
    fired = loop_start.stop() if loop_start else []
    record.loop_started = fired[0][0] - epoch if fired else None
    if protected:
        log = web_remote.run("cat /var/log/monit.log")
        record.monit_log = since_epoch(watch.monit_events(log, site.backend.service, epoch))
        relay = watch.Remote(lab, next(h for h in lab.hosts if h.name == host_settings.mail.relay))
        for address in host_settings.escalation.tier_emails(host_settings.monit.alert_tier):
            text = relay.run(f"cat {mailbox(address)} 2>/dev/null")
            record.alerts[address] = [
                when - epoch for when in watch.delivered(text, f"{site.backend.service}:") if when >= epoch
            ]
    web_remote.run("standin heal")
    _say(label, "done")
    return record
