"""A surge at the edge: what each client gets while one floods (figures, not a test).

    HOLDFAST_LAB=... .venv/bin/python -m bench.edge_flood [seconds]

On the first web host of the lab, for a few seconds at once: the "attacker" floods the
site's home page at ten times the default class's rate, a "visitor" browses at a quarter
of the rate, and the "office" (allow-listed) sends at twice the rate. Prints, per client,
the requests sent, how many got 200, 429 or anything else, and the median and slowest
answer times. Traffic goes only to the lab host, bounded in count and time.
"""

import statistics
import sys
import threading
from collections import Counter

from holdfast import loading
from lab.harness import traffic
from lab.harness.deploys import lab_inventory
from lab.topology import LAB


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 6
    web = LAB.group("web")[0]
    host_settings = loading.load(lab_inventory())[web.name]
    name, site = next(iter(host_settings.sites.items()))
    rate = site.limits.default.per_second
    clients = {"attacker": 10 * rate, "visitor": rate / 4, "office": 2 * rate}
    results: dict[str, list[traffic.Answer]] = {}

    def run(client: str, per_second: float) -> None:
        results[client] = traffic.paced(
            LAB.client_addresses[client], web.address, site.server_names[0], site.content_path,
            count=max(1, int(per_second * seconds)), per_second=per_second, timeout=10, tls=bool(site.tls),
        )

    threads = [threading.Thread(target=run, args=item) for item in clients.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    print(f"{web.name}, site {name}: default class {site.limits.default.rate}, burst {site.limits.default.burst}, "
          f"{seconds:g} s")
    print(f"{'client':10} {'req/s':>6} {'sent':>5} {'200':>5} {'429':>5} {'other':>5} {'median ms':>10} {'max ms':>7}")
    for client, per_second in clients.items():
        answers = results[client]
        statuses = Counter(answer.status for answer in answers)
        times = [answer.seconds * 1000 for answer in answers]
        print(f"{client:10} {per_second:6.1f} {len(answers):5} {statuses[200]:5} {statuses[429]:5} "
              f"{len(answers) - statuses[200] - statuses[429]:5} {statistics.median(times):10.1f} {max(times):7.1f}")


if __name__ == "__main__":
    main()
