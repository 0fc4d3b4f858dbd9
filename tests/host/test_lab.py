"""The lab itself: real systemd hosts whose resource limits are enforced, and a WordPress
site that fails on demand. Lab only (disposable hosts)."""

import time

import pytest

from lab import site as lab_site
from lab.harness.faults import unsupervised
from lab.harness.probes import cpu_percent, fastcgi

pytestmark = pytest.mark.disruptive


def test_host_runs_systemd_fully(host):
    assert host.check_output("systemctl is-system-running --wait") == "running"
    assert host.check_output("cat /proc/1/comm") == "systemd"


def test_cpu_quota_is_enforced(host):
    host.check_output("systemd-run --unit=lab-burn -p CPUQuota=20% sh -c 'while :; do :; done'")
    try:
        assert 15 <= cpu_percent(host, "lab-burn") <= 25
    finally:
        host.run("systemctl stop lab-burn")


def test_memory_max_is_enforced(host):
    def hog(mib: int):
        return host.run(
            "systemd-run --wait --pipe --collect -p MemoryMax=64M -p MemorySwapMax=0 python3 -c "
            f"'b = [bytearray(8 << 20) for _ in range({mib // 8})]; print(\"survived\")'"
        )

    # The same command under the limit survives: a failure of the command itself fails the test.
    small, big = hog(32), hog(256)
    assert (small.rc, small.stdout.strip()) == (0, "survived"), small.stderr
    # Killed by the kernel (cgroup v1: systemd reports the signal, not "oom-kill").
    killed = "code=killed/status=KILL" in big.stderr
    assert (big.rc != 0, "survived" in big.stdout, killed) == (True, False, True), big.stderr
    assert host.check_output("systemctl is-active ssh") == "active"


def test_tasks_max_is_enforced(host):
    forks = host.run(
        "systemd-run --wait --pipe --collect -p TasksMax=10 python3 -c '"
        "import threading, time\n"
        "n = 0\n"
        "try:\n"
        "    while n < 50: threading.Thread(target=time.sleep, args=(5,), daemon=True).start(); n += 1\n"
        "except RuntimeError: pass\n"
        "print(n)'"
    )
    assert int(forks.stdout) < 10


def test_a_host_writes_to_a_disk_of_its_own(host):
    """Its root is an overlay whose writes go to the host's own disk (lab/image.py), not the
    machine's: a file written there takes that disk's free space."""
    def free() -> int:
        return int(host.check_output("df --output=avail -B1M / | tail -1"))

    assert int(host.check_output("df --output=size -BG / | tail -1 | tr -dc 0-9")) <= 4
    before = free()
    host.check_output("fallocate -l 200M /var/tmp/lab-disk-test")
    try:
        assert 190 <= before - free() <= 210
    finally:
        host.run("rm -f /var/tmp/lab-disk-test")
    assert abs(free() - before) <= 10


@pytest.mark.hosts("web")
class TestStandIn:
    # Not "site": tests taking a fixture of that name run once per site (tests/host/conftest.py).
    @pytest.fixture
    def standin_site(self, settings):
        return lab_site.standin_site(settings)

    @pytest.fixture
    def unit(self, settings, standin_site):
        return settings.services[standin_site.backend.service].unit

    @pytest.fixture
    def busy(self, settings, unit) -> float:
        """CPU percent a looping worker reaches: most of a CPU, or of what its slice allows."""
        placed = settings.slice_of(unit)
        return 0.7 * min(100, placed.CPUQuota if placed and placed.CPUQuota else 100)

    @pytest.fixture(autouse=True)
    def unsupervised_and_healed(self, host, settings):
        """Monit leaves the stand-in alone while it fails on demand here (its runaway rule
        would restart a looping worker mid-measurement); healed after each test."""
        with unsupervised(host, settings):
            yield
            host.check_output("standin heal")

    def test_health_and_content(self, host, standin_site):
        assert standin_site.health_expect in fastcgi(host, standin_site, standin_site.health_path)
        assert standin_site.content_expect in fastcgi(host, standin_site, standin_site.content_path)

    def test_loop_burns_a_cpu(self, host, unit, busy):
        host.check_output("standin loop")
        assert cpu_percent(host, unit, 2) > busy

    def test_armed_loop_bug_fires_on_the_next_search(self, host, standin_site, unit, busy):
        host.check_output("standin arm-loop")
        fastcgi(host, standin_site, "/?s=shoes", timeout=5)  # it never answers: WordPress takes its time to get there
        assert not host.file(lab_site.LOOP_ARMED_FILE).exists
        assert cpu_percent(host, unit, 2) > busy

    def test_search_without_the_marker_is_answered(self, host, standin_site):
        host.check_output("standin arm-loop once shoes")
        assert "Search Results" in fastcgi(host, standin_site, "/?s=coffee", timeout=10)
        assert host.file(lab_site.LOOP_ARMED_FILE).exists

    def test_persistent_loop_bug_fires_on_every_matching_search(self, host, standin_site):
        # Each loop ends at the pool's request timeout (PHP-FPM kills it), not here: the
        # searches never answer, and the bug stays armed.
        host.check_output("standin arm-loop persistent shoes")
        answers = [fastcgi(host, standin_site, "/?s=red+shoes", timeout=5) for _ in range(2)]
        armed, started = (host.file(path).exists for path in (lab_site.LOOP_ARMED_FILE, lab_site.LOOP_STARTED_FILE))
        assert (answers, armed, started) == (["", ""], True, True)

    def test_leak_grows_memory(self, host, unit):
        def memory():
            return int(host.check_output(f"systemctl show -p MemoryCurrent --value {unit}"))

        before = memory()
        host.check_output("standin leak")
        time.sleep(2)
        assert memory() - before > 40 << 20

    def test_hang_never_answers(self, host, standin_site):
        host.check_output("standin hang")
        hung = fastcgi(host, standin_site, "/fault/hang", timeout=2)
        # The hang ends the answer before its page (its worker stays asleep, out of the pool's
        # request timeout); another worker still answers: the backend is up, this request hung.
        body = hung.partition("\r\n\r\n")[2]
        assert (body, standin_site.health_expect in fastcgi(host, standin_site, standin_site.health_path)) == ("", True)

    def test_crash_kills_the_service(self, host, unit):
        main = host.check_output(f"systemctl show -p MainPID --value {unit}")
        host.check_output("standin crash")
        time.sleep(0.5)
        # Gone, whether or not Monit has already started the service again.
        assert host.run(f"kill -0 {main}").rc != 0

    def test_crashloop_makes_every_start_fail(self, host, unit):
        host.check_output("standin crashloop")
        assert host.run(f"systemctl start {unit}").rc != 0
