"""The site's service address under faults of its holder (holdfast/failover.py): who
answers there, how long a takeover takes, how much of a visitor loop is served meanwhile.
Shared by tests/host/test_failover.py and bench/failover.py.

The primary's death is the lab's way of a host dying without a word: its port on the lab
bridge goes down (no goodbye advert reaches the standby), and its keepalived is stopped
behind the cut, so that when the link comes back the host returns as after a power cycle:
keepalived starting afresh, as BACKUP, under the preemption policy.
"""

import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

from lab.harness.faults import unmonitor
from lab.harness.probes import wait_for
from lab.harness.traffic import Answer, paced, request
from lab.topology import LAB

SERVED_BY = "X-Served-By"  # nginx's header naming the host that answered (templates/nginx)


def bridge_port(web_host) -> str:
    """The name, on this machine, of the lab's bridge port that leads to ``web_host`` (a
    testinfra host): the peer of the host's own interface."""
    peer_index = int(web_host.check_output("cat /sys/class/net/host0/iflink"))
    return socket.if_indextoname(peer_index)


def set_link(port: str, state: str) -> None:
    subprocess.run(["ip", "link", "set", "dev", port, state], check=True)


def served_by(address: str, server_name: str, timeout: float = 2, *, tls: bool) -> str | None:
    """The host that answers the site at ``address`` with a 200 (None: nobody does); over
    HTTPS for a site with ``tls``. Asked from the office (allow-listed), so that asking
    often never counts against the visitors' rate limit."""
    answer = request(LAB.client_addresses["office"], address, server_name, "/", timeout=timeout, tls=tls)
    return answer.headers.get(SERVED_BY) if answer.status == 200 else None


def wait_for_holder(address: str, server_name: str, holder: str, timeout: float, *, tls: bool) -> float | None:
    """Seconds until ``holder`` answers at ``address`` (None: not within ``timeout``)."""
    started = time.monotonic()
    if wait_for(lambda: served_by(address, server_name, tls=tls) == holder, timeout=timeout, interval=0.2):
        return round(time.monotonic() - started, 1)
    return None


VISITORS = ("visitor", "visitor2", "visitor3", "visitor4")  # the lab's client addresses the visitor loop comes from


@dataclass
class VisitorLoop:
    """Visitors to the service address for ``seconds``, in threads: one from each of
    ``VISITORS``, each paced at ``per_second``, spread evenly over a period. Several
    addresses give more requests under the same per-address limit: at 1 a second each, 120
    in a 30 s run, enough to tell 99 % served from 98 % (the one request in flight at a
    host's death is lost with it)."""

    address: str
    server_name: str
    seconds: float
    tls: bool
    per_second: float
    started: float = 0.0
    sent: list[tuple[float, Answer]] = field(default_factory=list)  # (seconds after start, answer), in order

    def __enter__(self) -> "VisitorLoop":
        self.started = time.monotonic()
        count = int(self.seconds * self.per_second)
        self._threads = [threading.Thread(target=self._visit, args=(source, index / (len(VISITORS) * self.per_second),
                                                                      count))
                         for index, source in enumerate(VISITORS)]
        for thread in self._threads:
            thread.start()
        return self

    def _visit(self, source: str, offset: float, count: int) -> None:
        time.sleep(max(0.0, self.started + offset - time.monotonic()))
        answers = paced(LAB.client_addresses[source], self.address, self.server_name, "/", count, self.per_second,
                        timeout=10, tls=self.tls)
        self.sent.extend((offset + index / self.per_second, answer) for index, answer in enumerate(answers))

    def __exit__(self, *exc) -> None:
        for thread in self._threads:
            thread.join()
        self.sent.sort(key=lambda sent: sent[0])

    @property
    def served(self) -> float:
        """The share of the visitors' requests answered 200."""
        return sum(answer.status == 200 for _, answer in self.sent) / len(self.sent)

    def holders(self, since: float = 0.0) -> list[str | None]:
        """Who answered each request sent ``since`` seconds after the start or later, in order."""
        return [answer.headers.get(SERVED_BY) for when, answer in self.sent if when >= since]


@dataclass
class PrimaryDeath:
    """What one death and return of the primary showed."""

    cut: float  # when the primary was cut off (time.monotonic())
    takeover: float | None  # seconds from the cut until the standby answered at the address
    served: float  # share of the visitor loop's requests answered
    requests: int
    holders_after_return: list[str | None]  # who answered after the primary was back
    # the requests not answered 200, in order: (seconds from the cut it was sent, status; 0: no answer, holder)
    failed: list[tuple[float, int, str | None]]


def visitor_pace(site) -> float:
    """Requests a second of the visitor loop: half the site's default rate per address, so
    that nginx's limit never answers it (the requests held up by a takeover arrive at once)."""
    return site.limits.default.per_second / 2


def cut_off(primary, port: str) -> float:
    """The primary (a testinfra host) dies without a word: Monit leaves its keepalived alone,
    which stops 3 s later behind the cut (its goodbye reaches nobody), and its ``port`` on the
    bridge goes down. When it did (time.monotonic())."""
    unmonitor(primary, "keepalived")
    primary.check_output("systemd-run --quiet --on-active=3 systemctl stop keepalived.service")
    set_link(port, "down")
    return time.monotonic()


def bring_back(primary, port: str) -> float:
    """The primary back as after a power cycle: its ``port`` up, keepalived started afresh (as
    BACKUP, under the preemption policy), Monit watching it again. When the port came up."""
    set_link(port, "up")
    back = time.monotonic()
    wait_for(lambda: primary.run("true").rc == 0, timeout=10)
    primary.check_output("systemctl start keepalived.service")
    primary.check_output("monit monitor keepalived")
    return back


def hand_back(holder) -> None:
    """The service address given back by ``holder`` (a testinfra host: a standby that took
    it over) at once, not preempt_delay after the primary's return: its keepalived restarted,
    which gives the address up as it stops (an advert of priority 0: the healthy primary
    takes it within a second) and starts again as BACKUP, of lower priority. A way to put
    the lab back, never what a failover test measures."""
    holder.check_output("systemctl restart keepalived.service")


def primary_death(primary, standby: str, address: str, server_name: str, down_for: float = 12,
                  back_for: float = 15, *, tls: bool, per_second: float) -> PrimaryDeath:
    """Cut the primary (a testinfra host) off while visitors keep coming (``per_second``);
    ``down_for`` seconds later bring it back with keepalived started afresh, and keep the
    visitors coming ``back_for`` seconds more."""
    port = bridge_port(primary)
    with VisitorLoop(address, server_name, seconds=3 + down_for + back_for, tls=tls,
                     per_second=per_second) as visitors:
        time.sleep(3)
        cut = cut_off(primary, port)
        try:
            takeover = wait_for_holder(address, server_name, standby, timeout=down_for, tls=tls)
            time.sleep(max(0.0, cut + down_for - time.monotonic()))
        finally:
            back = bring_back(primary, port)
    return PrimaryDeath(
        cut=cut, takeover=takeover, served=visitors.served, requests=len(visitors.sent),
        holders_after_return=visitors.holders(since=back - visitors.started),
        failed=[(round(visitors.started + when - cut, 1), answer.status, answer.headers.get(SERVED_BY))
                for when, answer in visitors.sent if answer.status != 200],
    )
