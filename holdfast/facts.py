"""Holdfast's own pyinfra facts: what the deploy and the audit read from a host beyond
pyinfra's facts. Kept apart from the operations, as pyinfra keeps its facts."""

import hashlib
import ipaddress
import re
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from pyinfra.api import FactBase, StringCommand
from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

# sha256sum of nothing: what a public key that could not be read hashes to.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class AdminKeys(FactBase):
    """Distinct SSH keys that can log in as an administrator (root and the sudo group)."""

    command = (
        "for home in /root $(getent group sudo | cut -d: -f4 | tr , ' ' | "
        "xargs -r -n1 sh -c 'getent passwd \"$0\" | cut -d: -f6'); do "
        'cat "$home/.ssh/authorized_keys" 2>/dev/null; done | '
        "grep -E '^(ssh-|ecdsa-|sk-)' | cut -d' ' -f2 | sort -u | wc -l"
    )

    def process(self, output):
        return int(output[0])


class UnitRestartPolicies(FactBase):
    """How systemd itself restarts units: Restart= and the start limit, by unit."""

    @staticmethod
    def default():
        return {}

    def command(self, units):
        return "systemctl show -p Id -p LoadState -p Restart -p StartLimitBurst -p StartLimitIntervalUSec " + " ".join(
            units
        )

    def process(self, output):
        policies, current = {}, {}
        for line in [*output, ""]:
            if not line.strip():
                if current.get("Id"):
                    policies[current["Id"]] = current
                current = {}
                continue
            key, _, value = line.partition("=")
            current[key] = value
        return policies


class NginxAllowList(FactBase):
    """The networks of the live nginx allow-list (None: no Holdfast edge on the host)."""

    command = "sed -n '/^geo $holdfast_allow_listed/,/^}/p' /etc/nginx/holdfast/edge.conf 2>/dev/null || true"

    def process(self, output):
        return [parts[0] for parts in map(str.split, output) if len(parts) > 1 and parts[1] == "1;"]


class MatchingFiles(FactBase):
    """Files whose paths match shell glob patterns (the patterns come from Holdfast, not users)."""

    @staticmethod
    def default() -> list[str]:
        return []

    def command(self, patterns: Sequence[str]) -> str:
        return f'for path in {" ".join(patterns)}; do [ -f "$path" ] && echo "$path"; done; true'

    def process(self, output):
        return sorted(output)


class FileState(NamedTuple):
    mode: str  # octal, as stat prints it: "644"
    user: str
    group: str
    sha1: str

    @classmethod
    def of(cls, content: str, mode: str, user: str = "root", group: str = "root") -> "FileState":
        """The state of a file holding ``content``."""
        return cls(mode.lstrip("0"), user, group, hashlib.sha1(content.encode()).hexdigest())


class FileStates(FactBase):
    """Each existing file's mode, owner, group and SHA-1, by path, read in one command (what
    a deploy compares for each configuration file); a missing file is not in the result."""

    @staticmethod
    def default() -> dict[str, FileState]:
        return {}

    def command(self, paths: Sequence[str]) -> str:
        # Two commands for all the files (not two per file): stat's line, then sha1sum's.
        return (f"set --; for path in {' '.join(map(shlex.quote, paths))}; do [ -f \"$path\" ] && "
                'set -- "$@" "$path"; done; [ $# -eq 0 ] || { stat -c \'%a %U %G %n\' -- "$@" && sha1sum -- "$@"; }')

    def process(self, output) -> dict[str, FileState]:
        found: dict[str, list[str]] = {}
        for line in output:
            if line[40:42] == "  " and re.fullmatch("[0-9a-f]{40}", line[:40]):
                found[line[42:]].append(line[:40])
            else:
                mode, user, group, path = line.split(" ", 3)
                found[path] = [mode, user, group]
        return {path: FileState(*state) for path, state in found.items()}


class ManagedFiles(FactBase):
    """Files matching shell glob patterns whose first lines carry Holdfast's "managed" notice:
    Holdfast wrote them, so it may remove them (the patterns come from Holdfast, not users)."""

    @staticmethod
    def default() -> list[str]:
        return []

    def command(self, patterns: Sequence[str]) -> str:
        return (f'for path in {" ".join(patterns)}; do [ -f "$path" ] && '
                'head -n 3 "$path" | grep -q "Managed by Holdfast from" && echo "$path"; done; true')

    def process(self, output):
        return sorted(output)


class UnchangedConffiles(FactBase):
    """The configuration files of a Debian package that are still as the package shipped
    them (dpkg's recorded checksum), e.g. a default that Holdfast may replace."""

    @staticmethod
    def default() -> list[str]:
        return []

    def command(self, package: str) -> str:
        # One md5sum for all of them ("obsolete" ones have a third field and are left out).
        return (
            f"dpkg-query -W -f='${{Conffiles}}\\n' {shlex.quote(package)} 2>/dev/null | "
            "awk 'NF == 2 {print $2 \"  \" $1}' | md5sum -c 2>/dev/null | sed -n 's/: OK$//p'; true"
        )

    def process(self, output):
        return sorted(output)


class Certificate(FactBase):
    """A certificate file and its key on the host: which of them exist, the SHA-256 of each
    one's public key (equal when they match), the certificate's notAfter and its DNS names."""

    def command(self, certificate: str, key: str) -> str:
        return (
            f"c={shlex.quote(certificate)} k={shlex.quote(key)}; "
            'if [ -f "$c" ]; then echo certificate; '
            'echo "certificate_key $(openssl x509 -in "$c" -noout -pubkey 2>/dev/null | '
            'openssl pkey -pubin -outform DER 2>/dev/null | sha256sum | cut -d" " -f1)"; '
            'openssl x509 -in "$c" -noout -enddate -ext subjectAltName 2>/dev/null; fi; '
            'if [ -f "$k" ]; then echo key; '
            'echo "key_key $(openssl pkey -in "$k" -pubout -outform DER 2>/dev/null | sha256sum | cut -d" " -f1)"; '
            "fi; true"
        )

    def process(self, output):
        found = {"names": []}
        for line in output:
            word, _, rest = line.strip().partition(" ")
            if line.startswith("notAfter="):
                found["not_after"] = datetime.strptime(" ".join(line[9:].split()), "%b %d %H:%M:%S %Y %Z").replace(
                    tzinfo=UTC
                )
            elif "DNS:" in line:
                found["names"] = [name.strip().removeprefix("DNS:") for name in line.split(",")]
            elif word in ("certificate", "key"):
                found[word] = True
            elif word in ("certificate_key", "key_key") and rest != EMPTY_SHA256:
                found[word] = rest
        return found


# The names of a server_name directive, wherever it sits on its line.
SERVER_NAME = re.compile(r"(?:^|[\s;{])server_name\s+([^;]+);")


class NginxTakeover(FactBase):
    """Before Holdfast's first nginx deploy (no edge.conf of its own yet): each file of the
    running nginx's configuration (``nginx -T``), with the file it resolves to and the
    server names it declares. None once the configuration is Holdfast's, or without nginx."""

    command = (
        "if [ -e /etc/nginx/holdfast/edge.conf ] || [ ! -x /usr/sbin/nginx ]; then echo holdfast; else "
        "/usr/sbin/nginx -T 2>/dev/null | while IFS= read -r line; do case $line in "
        '"# configuration file "*) f=${line#"# configuration file "}; f=${f%:}; echo "file $f $(readlink -f "$f")";; '
        '*server_name*) echo "line $line";; esac; done; fi; true'
    )

    def process(self, output):
        if output and output[0] == "holdfast":
            return None
        files, current = {}, None
        for line in output:
            kind, _, rest = line.partition(" ")
            if kind == "file":
                path, _, real = rest.partition(" ")
                current = files.setdefault(path, {"real": real or path, "names": []})["names"]
            elif kind == "line" and current is not None:
                for names in SERVER_NAME.findall(rest.partition("#")[0]):
                    current += names.split()
        return files


class FirewallTable(FactBase):
    """The comment of a live nftables table (None: no such table, or no comment)."""

    def command(self, table: str) -> str:
        return f"nft list table {table} 2>/dev/null | sed -n 's/^\\tcomment \"\\(.*\\)\"$/\\1/p' | head -n1; true"

    def process(self, output):
        return output[0] if output else None


class Listener(NamedTuple):
    """A listening socket: protocol, local address ('*': every address), port, process."""

    protocol: str
    address: str
    port: int
    process: str

    @property
    def on_loopback(self) -> bool:
        if self.address == "*":
            return False
        address = ipaddress.ip_address(self.address)
        mapped = getattr(address, "ipv4_mapped", None)
        return address.is_loopback or bool(mapped and mapped.is_loopback)


class ListeningSockets(FactBase):
    """Every TCP socket listening and UDP socket bound on the host (``ss``)."""

    command = "ss -Hltnup"

    @staticmethod
    def default() -> list[Listener]:
        return []

    def process(self, output):
        listeners = []
        for line in output:
            fields = line.split()
            address, _, port = fields[4].rpartition(":")
            process = re.search(r'users:\(\("([^"]+)"', line)
            listeners.append(Listener(fields[0], address.split("%")[0].strip("[]"), int(port),
                                      process[1] if process else "?"))
        return sorted(set(listeners))


class TimerActive(FactBase):
    """Whether a systemd timer is waiting to fire (e.g. a firewall rollback a cut deploy left)."""

    @staticmethod
    def default() -> bool:
        return False

    def command(self, timer: str) -> str:
        return f"systemctl is-active --quiet {timer} && echo active || true"

    def process(self, output):
        return output == ["active"]


class UnitStates(FactBase):
    """Which systemd units are running and which enabled, as pyinfra's ``SystemdStatus`` and
    ``SystemdEnabled`` answer, from one ``systemctl show`` instead of one each."""

    @staticmethod
    def default() -> dict[str, dict[str, bool]]:
        return {"running": {}, "enabled": {}}

    def command(self, units: Sequence[str]) -> str:
        keys = ("Id", SystemdStatus.state_key, SystemdEnabled.state_key)
        return " ".join(["systemctl show --all", *(f"--property {key}" for key in keys), *map(shlex.quote, units)])

    def process(self, output):
        lines = list(output)
        return {"running": SystemdStatus().process(lines), "enabled": SystemdEnabled().process(lines)}


class Replica(NamedTuple):
    login: bool  # the replication user logs in to this host's MariaDB, with the login file's password
    primary: str | None  # the address this host replicates (None: it replicates nothing)
    by_gtid: bool  # from its GTID position (Using_Gtid: Slave_Pos)


class MariadbReplica(FactBase):
    """How this host's MariaDB takes part in replication (holdfast/replication.py), in one
    command: whether the replication user logs in on ``address`` (the host's own) with
    ``login`` (its login file), and whom it replicates, how."""

    @staticmethod
    def default() -> Replica:
        """What a host says that prints nothing: no login yet, replicating nothing (pyinfra
        does not process an empty output)."""
        return Replica(False, None, False)

    def command(self, login: str, address: str) -> str:
        return (f"mariadb --defaults-extra-file={shlex.quote(login)} -h {shlex.quote(address)} -e 'SELECT 1' "
                ">/dev/null 2>&1 && echo login; "
                "mariadb -e 'SHOW SLAVE STATUS\\G' 2>/dev/null | sed -n 's/^ *\\(Master_Host\\|Using_Gtid\\): //p'")

    def process(self, output) -> Replica:
        lines = [line.strip() for line in output]
        login = "login" in lines
        status = [line for line in lines if line != "login"]
        return Replica(login, status[0] if status else None, status[1:2] == ["Slave_Pos"])


# The packages dpkg has installed, one name per line.
INSTALLED_PACKAGES = "dpkg-query -W -f '${Package} ${db:Status-Status}\\n' | awk '$2 == \"installed\" { print $1 }'"


class Footprint(NamedTuple):
    configs: list[str]  # configurations swapped by holdfast-apply-config (original/<config>.files)
    units: list[str]  # units Holdfast created that no package ships (it stops and disables them)
    links: list[str]  # links to a unit Holdfast created in place of a package's (left by enabling it)
    new_packages: list[str]  # packages installed since Holdfast's first deploy (original/packages-before)
    packages_known: bool  # whether that first deploy recorded the packages it found


class HoldfastFootprint(FactBase):
    """What Holdfast recorded of its own on the host, under ``original`` (the state directory's
    originals, templates/base/usr/local/sbin/holdfast-apply-config.j2): what uninstalling reads."""

    @staticmethod
    def default() -> Footprint:
        return Footprint([], [], [], [], False)

    def command(self, original: str) -> str:
        return (
            f"cd {shlex.quote(original)} 2>/dev/null || exit 0; "
            'for f in *.files; do [ -f "$f" ] && echo "config ${f%.files}"; done; '
            "grep -E '^/etc/systemd/system/[^/]+[.](service|timer|mount)$' created 2>/dev/null | "
            "while read -r unit; do "
            'name=${unit##*/}; if [ -e "/lib/systemd/system/$name" ] || [ -e "/usr/lib/systemd/system/$name" ] || '
            '[ -e "/etc/init.d/${name%.service}" ]; then find /etc/systemd/system -type l -lname "$unit" | '
            'sed "s/^/link /"; else echo "unit $name"; fi; done; '
            "[ -f packages-before ] || exit 0; echo known; "
            f"{INSTALLED_PACKAGES} | grep -vxF -f packages-before | sed 's/^/package /'; true"
        )

    def process(self, output) -> Footprint:
        found: dict[str, list[str]] = {"config": [], "unit": [], "link": [], "package": []}
        for line in output:
            kind, _, name = line.partition(" ")
            found.get(kind, []).append(name)
        return Footprint(found["config"], found["unit"], found["link"], found["package"], "known" in output)


class PathMode(NamedTuple):
    kind: str  # as stat names it: "directory", "regular file", "regular empty file"
    mode: str  # octal, as stat prints it: "755"
    user: str
    group: str


class PathModes(FactBase):
    """Each existing path's kind, mode, owner and group, by path, in one command."""

    @staticmethod
    def default() -> dict[str, PathMode]:
        return {}

    def command(self, paths: Sequence[str]) -> str:
        return f"stat -c '%a %U %G %n|%F' -- {' '.join(map(shlex.quote, paths))} 2>/dev/null; true"

    def process(self, output) -> dict[str, PathMode]:
        modes = {}
        for line in output:
            head, _, kind = line.rpartition("|")
            mode, user, group, path = head.split(" ", 3)
            modes[path] = PathMode(kind, mode, user, group)
        return modes


BATCH_MARK = "@@holdfast-fact"


def query_key(fact: type[FactBase], kwargs: dict) -> tuple[str, str]:
    """One fact read (its class and arguments) as a key: the same read, the same key."""
    return f"{fact.__module__}.{fact.__qualname__}", repr(sorted(kwargs.items()))


class Batch(FactBase):
    """Several facts read in one command, one SSH round trip instead of one each: their
    values in the order asked. Each answers as it would alone: its default when its command
    fails or prints nothing."""

    def command(self, queries: Sequence[tuple[type[FactBase], dict]]) -> str:
        self.facts = [(fact(), kwargs) for fact, kwargs in queries]
        parts = []
        for index, (fact, kwargs) in enumerate(self.facts):
            command = fact.command if isinstance(fact.command, str) else fact.command(**kwargs)
            command = command.get_raw_value() if isinstance(command, StringCommand) else command
            parts.append(f"echo '{BATCH_MARK} {index}'; ( {command} ) 2>/dev/null; echo \"{BATCH_MARK} {index} $?\"")
        return "; ".join(parts)

    def default(self) -> list:
        return [fact.default() for fact, _ in getattr(self, "facts", [])]

    def process(self, output) -> list:
        values = self.default()
        lines: list[str] = []
        for line in output:
            mark, _, rest = line.partition(" ")
            if mark != BATCH_MARK:
                lines.append(line)
                continue
            index, _, status = rest.partition(" ")
            if not status:
                lines = []
            elif status == "0" and lines:
                values[int(index)] = self.facts[int(index)][0].process(lines)
        return values
