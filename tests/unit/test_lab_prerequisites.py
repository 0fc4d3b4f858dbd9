"""The lab's machine check decides from constructed machines: root, cgroup layout, tools."""

from lab.prerequisites import Machine, problems

# /proc/self/mountinfo lines of a hybrid machine (v1 controllers, as on the CI machines) ...
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
# ... of a v2-only one (Debian 12's default) ...
UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
# ... and of a hybrid one without the memory controller.
NO_MEMORY = "\n".join(line for line in HYBRID.splitlines() if "memory" not in line)


def machine(**changes) -> Machine:
    values = {"uid": 0, "mountinfo": HYBRID, "missing_commands": (), "has_apt": True}
    return Machine(**{**values, **changes})


def test_a_hybrid_root_machine_runs_the_lab():
    assert problems(machine()) == []
    # Missing tools are installed by `lab up` where apt-get exists.
    assert problems(machine(missing_commands=("debootstrap", "systemd-nspawn"))) == []


def test_not_root_is_named_with_the_fix():
    (found,) = problems(machine(uid=1000))
    assert found.startswith("not root (uid 1000)") and "sudo make demo" in found


def test_a_v2_only_machine_is_named_with_the_boot_option():
    (found,) = problems(machine(mountinfo=UNIFIED))
    assert found.startswith("cgroup v2 only")
    assert "systemd.unified_cgroup_hierarchy=0" in found


def test_a_missing_v1_controller_is_named():
    (found,) = problems(machine(mountinfo=NO_MEMORY))
    assert found.startswith("cgroup v1 controllers missing under /sys/fs/cgroup: memory:")


def test_tools_without_apt_are_named_with_their_packages():
    (found,) = problems(machine(missing_commands=("systemd-nspawn",), has_apt=False))
    assert "missing commands systemd-nspawn" in found and "systemd-container" in found


def test_every_problem_is_reported_at_once():
    found = problems(machine(uid=1000, mountinfo=UNIFIED, missing_commands=("debootstrap",), has_apt=False))
    assert [p.split(" ")[0] for p in found] == ["not", "cgroup", "missing"]
