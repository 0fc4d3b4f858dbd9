"""The lab's mail sink on the monitor host: a real MTA (Debian's exim4) that takes the
alert mail for the escalation contacts and delivers it to local mailboxes the tests read.
In production the relay is the company's; this deploy never runs there."""

import email
import re
from email.message import Message
from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from holdfast import loading
from lab import render
from lab.topology import LAB

PACKAGES = ("exim4-daemon-light",)
MTA = "exim4"  # its unit


def mailbox(address: str) -> str:
    """The sink's mailbox file for an address."""
    return f"/var/mail/{address.split('@')[0]}"


def messages(text: str) -> list[Message]:
    """The messages in (part of) a mailbox file's text, oldest first."""
    parts = re.split(r"^From \S+ .*\n", text, flags=re.MULTILINE)
    return [email.message_from_string(part) for part in parts if part.strip()]


@deploy("Mail sink (lab only)")
def deploy_mail_sink() -> None:
    host_settings = loading.current()
    emails = [contact.email for contact in host_settings.escalation.contacts.values()]
    apt.packages(name="Install exim4", packages=list(PACKAGES))
    for address in emails:
        server.user(
            name=f"Mailbox for {address}",
            user=address.split("@")[0],
            shell="/usr/sbin/nologin",
            create_home=False,
            system=True,
        )
    config = files.put(
        name="Configure the mail sink",
        src=StringIO(render(
            "mailsink/update-exim4.conf.conf.j2",
            domains=sorted({address.split("@")[1] for address in emails}),
            relay_nets=str(LAB.subnet),
        )),
        dest="/etc/exim4/update-exim4.conf.conf",
    )
    server.shell(name="Regenerate the exim4 configuration", commands=["update-exim4.conf"], _if=config.did_change)
    systemd.service(
        name="exim4 running",
        service=MTA,
        running=True,
        enabled=True,
        restarted=config.will_change,
    )
