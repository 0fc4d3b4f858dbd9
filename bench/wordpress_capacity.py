"""The uncached capacity of the lab's WordPress, printed as figures (not a test).

    HOLDFAST_LAB=... .venv/bin/python -m bench.wordpress_capacity [seconds per step]

On the first web host of the (running, deployed) lab, for the front page, a post and a
search: every request made unique (an extra query argument), so nginx's cache never
answers and each one is rendered by PHP; sent from the lab's allow-listed "office"
address, so no rate limit applies. Closed loops of 1, 2, 4, ... clients at once, a few
seconds each, until the 99th percentile passes 1 s or answers fail: the capacity is the
most requests per second served with p99 <= 1 s. Monit leaves PHP-FPM alone meanwhile (its
health probe would restart a saturated pool). Traffic goes only to the lab host, bounded
in count and time.
"""

import math
import re
import secrets
import sys
import threading
import time

import testinfra

from holdfast import loading
from lab.harness import traffic
from lab.harness.deploys import lab_inventory
from lab.harness.faults import unsupervised
from lab.site import standin_site
from lab.topology import LAB

P99_LIMIT = 1.0  # seconds
CLIENTS = (1, 2, 4, 6, 8, 12, 16)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def step(web, site, path: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    """``clients`` closed loops on ``path`` for ``seconds``: (answers per second, median and
    p99 seconds, failures)."""
    answers: list[traffic.Answer] = []
    ends = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < ends:
            unique = f"{path}{'&' if '?' in path else '?'}bench={secrets.token_hex(8)}"  # never cached before
            answers.append(traffic.request(LAB.client_addresses["office"], web.address, site.server_names[0],
                                           unique, timeout=10, tls=bool(site.tls)))

    started = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    served = [answer.seconds for answer in answers if answer.status == 200]
    failures = len(answers) - len(served)
    if not served:
        return 0.0, math.inf, math.inf, failures
    return len(served) / elapsed, percentile(served, 0.5), percentile(served, 0.99), failures


def a_post(web, site) -> str:
    """The path of the newest post linked from the front page."""
    front = traffic.request(LAB.client_addresses["office"], web.address, site.server_names[0], "/", timeout=30,
                            tls=bool(site.tls))
    found = re.search(rf"href=\"https?://{re.escape(site.server_names[0])}(/\d{{4}}/\d{{2}}/[^\"]+)\"", front.body)
    if not found:
        raise SystemExit("no post linked from the front page: is the lab's WordPress seeded (make lab)?")
    return found[1]


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 8
    web = LAB.group("web")[0]
    settings = loading.load(lab_inventory())[web.name]
    site = standin_site(settings)
    host = testinfra.get_host(f"paramiko://{web.name}", ssh_config=str(LAB.ssh_config))
    pages = {"front page": "/", "a post": a_post(web, site), "a search": "/?s=coffee"}
    print(f"{web.name}, site {site.server_names[0]}: uncached (PHP renders every answer), {seconds:g} s per step, "
          f"capacity = most answers/s with p99 <= {P99_LIMIT:g} s")
    print(f"{'page':11} {'clients':>7} {'answers/s':>9} {'median ms':>9} {'p99 ms':>8} {'failed':>6}")
    capacity = {}
    with unsupervised(host, settings):
        for label, path in pages.items():
            capacity[label] = 0.0
            for clients in CLIENTS:
                rate, median, p99, failures = step(web, site, path, clients, seconds)
                print(f"{label:11} {clients:7} {rate:9.1f} {median * 1000:9.0f} {p99 * 1000:8.0f} {failures:6}")
                if p99 > P99_LIMIT or failures:
                    break
                capacity[label] = max(capacity[label], rate)
    for label, path in pages.items():
        print(f"capacity of {label} ({path}): {capacity[label]:.1f} requests/s at p99 <= {P99_LIMIT:g} s"
              + (" (not even one client's)" if not capacity[label] else ""))


if __name__ == "__main__":
    main()
