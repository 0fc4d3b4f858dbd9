"""The lab's ACME CA: Debian's pebble (Let's Encrypt's test server) on the monitor host,
with pebble-challtestsrv as its DNS (every name resolves to the first web host; nginx
there asks the other web hosts for challenge tokens it lacks). Every lab host trusts its
roots in the system store, as a company trusts its own CA: certbot, the blackbox
exporter, Monit and curl verify against it. Lab only; never Holdfast's deploy."""

import datetime
import ipaddress
import ssl
import urllib.request
from functools import cache
from io import StringIO
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from lab.site import render
from lab.topology import LAB, Lab

PACKAGES = ("pebble", "curl")
ACME_PORT = 14000
MANAGEMENT_PORT = 15000
DNS_PORT = 8053
CONFIG_DIR = "/etc/pebble"
TRUSTED_DIR = "/usr/local/share/ca-certificates"
# The roots pebble issues from: a new one at each pebble start, read from its management
# port; each stays trusted (named by its fingerprint), so certificates it issued still verify.
ROOT_PREFIX = f"{TRUSTED_DIR}/holdfast-lab-acme-root-"


def acme_host(lab: Lab = LAB):
    """The lab host pebble runs on: the monitor host."""
    return lab.group("monitors")[0]


def listener_ca(lab: Lab = LAB) -> Path:
    """pebble's own listener certificate comes from a CA the lab makes once per address of
    pebble's host, kept in its state dir: a lab brought back on another subnet gets a
    listener certificate for its new address (one for the old failed every client's check)."""
    return lab.state_dir / "acme" / acme_host(lab).address / "listener-ca.pem"


def curl_arguments(host_name: str, address: str, path: str, tls: bool) -> str:
    """curl's arguments for ``path`` of the site ``host_name`` at ``address``: over HTTPS by
    its name (verified against the CAs of the host curl runs on) when ``tls``."""
    if tls:
        return f"--resolve {host_name}:443:{address} 'https://{host_name}{path}'"
    return f"-H 'Host: {host_name}' 'http://{address}{path}'"


def directory_url() -> str:
    return f"https://{acme_host().name}:{ACME_PORT}/dir"


def roots_url() -> str:
    """Where pebble serves the root it issues from (over its listener certificate)."""
    return f"https://{acme_host().name}:{MANAGEMENT_PORT}/roots/0"


def trust_root_command() -> str:
    """Shell that adds the root pebble issues from now to the host's system store (run after
    each pebble start; the roots before it stay)."""
    return (
        "update-ca-certificates >/dev/null && new=$(mktemp) && "
        f"curl -sSf --retry 10 --retry-connrefused --retry-delay 1 -o $new {roots_url()} && "
        "fingerprint=$(openssl x509 -in $new -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | cut -c1-16) && "
        f'if [ -e {ROOT_PREFIX}$fingerprint.crt ]; then rm $new; else chmod 644 $new && '
        f"mv $new {ROOT_PREFIX}$fingerprint.crt && update-ca-certificates >/dev/null; fi"
    )


def issuing_root(lab: Lab = LAB) -> str:
    """The PEM of the root pebble issues from now, read from pebble over its listener CA."""
    listener = ssl.create_default_context(cafile=str(listener_ca(lab)))
    url = f"https://{acme_host(lab).address}:{MANAGEMENT_PORT}/roots/0"
    with urllib.request.urlopen(url, context=listener, timeout=10) as answer:
        return answer.read().decode()


@cache
def client_context(lab: Lab = LAB) -> ssl.SSLContext:
    """A TLS context for clients on this machine (the tests, the drill) that trusts what the
    lab's hosts trust: the root pebble issues from."""
    return ssl.create_default_context(cadata=issuing_root(lab))


def _listener_files() -> tuple[str, str, str]:
    """(CA certificate, listener certificate, listener key) as PEM, made once per lab."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = listener_ca().parent
    paths = [listener_ca(), folder / "listener.pem", folder / "listener-key.pem"]
    if not all(path.exists() for path in paths):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = datetime.datetime.now(datetime.UTC)
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

        def certificate(subject: str, public_key, issuer: str, extensions) -> x509.Certificate:
            builder = (x509.CertificateBuilder()
                       .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                       .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                       .public_key(public_key).serial_number(x509.random_serial_number())
                       .not_valid_before(now - datetime.timedelta(days=1))
                       .not_valid_after(now + datetime.timedelta(days=3650)))
            for extension, critical in extensions:
                builder = builder.add_extension(extension, critical=critical)
            return builder.sign(ca_key, hashes.SHA256())

        ca_name = f"Holdfast lab {LAB.name} ACME listener CA"
        ca = certificate(ca_name, ca_key.public_key(), ca_name, [(x509.BasicConstraints(ca=True, path_length=0), True)])
        host = acme_host()
        listener = certificate(host.name, key.public_key(), ca_name, [
            (x509.SubjectAlternativeName([x509.DNSName(host.name),
                                          x509.IPAddress(ipaddress.ip_address(host.address))]), False),
        ])
        pem = serialization.Encoding.PEM
        paths[0].write_bytes(ca.public_bytes(pem))
        paths[1].write_bytes(listener.public_bytes(pem))
        paths[2].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        paths[2].chmod(0o600)
    return tuple(Path(path).read_text() for path in paths)


@deploy("ACME CA (lab only)")
def deploy_pebble() -> None:
    """pebble and its DNS on this host, with the listener certificate the lab made."""
    _, listener, key = _listener_files()
    web_address = LAB.group("web")[0].address
    apt.packages(name="Install pebble", packages=list(PACKAGES))
    changed = [
        files.put(name="pebble's listener certificate", src=StringIO(listener), dest=f"{CONFIG_DIR}/listener.pem"),
        files.put(name="pebble's listener key", src=StringIO(key), dest=f"{CONFIG_DIR}/listener-key.pem", mode="600"),
        files.put(name="pebble's configuration", dest=f"{CONFIG_DIR}/pebble-config.json", src=StringIO(render(
            "acme/pebble-config.json.j2", config_dir=CONFIG_DIR, acme_port=ACME_PORT,
            management_port=MANAGEMENT_PORT,
        ))),
    ]
    units = [
        files.put(name=f"Unit {unit}", dest=f"/etc/systemd/system/{unit}.service", src=StringIO(render(
            f"acme/{unit}.service.j2", config_dir=CONFIG_DIR, dns_port=DNS_PORT, web_address=web_address,
        )))
        for unit in ("pebble-challtestsrv", "pebble")
    ]
    for unit in ("pebble-challtestsrv", "pebble"):
        systemd.service(
            name=f"{unit} running", service=unit, running=True, enabled=True,
            daemon_reload=any(op.will_change for op in units),
            restarted=any(op.will_change for op in [*units, *changed]),
        )


@deploy("Trust the lab's ACME CA (lab only)")
def deploy_lab_trust() -> None:
    """The listener CA and the root pebble issues from, in this host's system store (after
    pebble started: each start makes a new root)."""
    ca, _, _ = _listener_files()
    apt.packages(name="Install curl", packages=["curl"])
    files.put(name="pebble's listener CA trusted", src=StringIO(ca),
              dest=f"{TRUSTED_DIR}/holdfast-lab-acme-listener.crt")
    server.shell(name="The root pebble issues from trusted", commands=[trust_root_command()])
