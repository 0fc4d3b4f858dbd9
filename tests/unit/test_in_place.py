"""What makes an operation's part of the host in place (holdfast/in_place.py): every file,
mode, package, unit and fact it compares as wanted; anything else and it runs."""

import pytest
from pyinfra.facts.server import Command

from holdfast.facts import FileState, PathMode
from holdfast.in_place import Mode, Part

CONF = FileState("644", "root", "root", "a" * 40)
FOUND = {
    "files": {"/etc/x.conf": CONF},
    "matching": ["/etc/x.conf"],
    "modes": {"/var/lib/x": PathMode("directory", "700", "root", "root"),
              "/var/log/x.log": PathMode("regular empty file", "640", "root", "adm")},
    "packages": {"nginx": ["1.22"]},
    "running": {"nginx.service": True, "monit.service": False},
    "enabled": {"nginx.service": True, "monit.service": True},
    "facts": {("pyinfra.facts.server.Command", "[('command', 'check')]"): "ready"},
}


@pytest.mark.parametrize("part", [
    Part(files={"/etc/x.conf": CONF}, owned=("/etc/*.conf",)),
    Part(modes={"/var/lib/x": Mode("directory", "0700")}),
    Part(modes={"/var/log/x.log": Mode("regular", "640", "root", "adm")}),
    Part(packages=("nginx",), running=("nginx.service",), enabled=("nginx.service", "monit.service")),
    Part(facts=((Command, {"command": "check"}, "ready"),)),
    Part(),
], ids=["files", "directory", "file-mode", "package-and-units", "fact", "nothing"])
def test_a_part_as_wanted_is_in_place(part):
    assert part.met_by(FOUND)


@pytest.mark.parametrize("part", [
    Part(files={"/etc/x.conf": CONF._replace(sha1="b" * 40)}),
    Part(files={"/etc/x.conf": CONF._replace(mode="600")}),
    Part(files={"/etc/new.conf": CONF}),
    Part(owned=("/etc/*.conf",)),  # a file the pattern owns that is no longer wanted
    Part(modes={"/var/lib/x": Mode("directory", "755")}),
    Part(modes={"/var/lib/x": Mode("regular")}),
    Part(modes={"/var/log/x.log": Mode("regular", "640", "root", "root")}),
    Part(modes={"/var/lib/missing": Mode("directory")}),
    Part(packages=("fail2ban",)),
    Part(running=("monit.service",)),
    Part(enabled=("keepalived.service",)),
    Part(facts=((Command, {"command": "check"}, "missing"),)),
    Part(facts=((Command, {"command": "other"}, "ready"),)),
], ids=["content", "file-mode", "missing-file", "stray-owned-file", "directory-mode", "kind", "group",
        "missing-directory", "missing-package", "stopped-unit", "disabled-unit", "fact-value", "fact-not-read"])
def test_a_part_that_differs_anywhere_is_not_in_place(part):
    assert not part.met_by(FOUND)
