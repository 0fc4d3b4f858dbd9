"""What every provider speaks in: the monitors Holdfast wants, the ones the provider has,
the changes between them, and the people the escalation plan alerts.

Each provider module turns its API's records into ``Existing`` and the inventory into
``Wanted`` with the same ``fields`` (the provider's own field names and forms), so one
``changes()`` serves them all.
"""

from dataclasses import dataclass, field
from typing import Literal

from holdfast.settings import Channel, Escalation


@dataclass(frozen=True)
class Wanted:
    """A monitor the inventory asks for."""

    name: str  # unique among the monitors Holdfast owns at this provider
    identity: str  # what the provider treats as the same monitor: a URL, a slug
    fields: dict  # every field Holdfast sets, as the provider's API names and reads them


@dataclass(frozen=True)
class Existing:
    """A monitor the provider has."""

    id: str
    name: str
    identity: str
    owned: bool  # carries Holdfast's tag: created (or handed over) to Holdfast
    fields: dict  # the same keys as Wanted.fields, read back from the provider
    state: str = ""  # as the provider says it (up, down, paused, ...), for `holdfast status`


@dataclass(frozen=True)
class Change:
    """One write: create ``wanted``, update ``existing`` with ``fields``, or delete ``existing``."""

    action: Literal["create", "update", "delete"]
    name: str
    wanted: Wanted | None = None
    existing: Existing | None = None
    fields: dict = field(default_factory=dict)

    def __str__(self) -> str:
        if self.action == "create":
            return f"create {self.name!r} ({self.wanted.identity})"
        if self.action == "delete":
            return f"delete {self.name!r} (id {self.existing.id}, {self.existing.identity})"
        return f"update {self.name!r} (id {self.existing.id}): " + ", ".join(
            f"{key} {self.existing.fields.get(key)!r} -> {value!r}" for key, value in self.fields.items()
        )


def changes(wanted: list[Wanted], existing: list[Existing]) -> tuple[list[Change], list[str]]:
    """The writes that bring ``existing`` to ``wanted``, and notes on what was left alone.

    A wanted monitor is matched to an owned one of the same name, else to any one with the
    same identity (adopted: no duplicate). Owned ones left unmatched are deleted. One that
    matches but is not owned is never written to: a note says so.
    """
    owned: dict[str, Existing] = {}
    by_identity: dict[str, Existing] = {}
    for monitor in existing:
        if monitor.owned:
            owned.setdefault(monitor.name, monitor)
        if monitor.identity not in by_identity or monitor.owned and not by_identity[monitor.identity].owned:
            by_identity[monitor.identity] = monitor
    writes: list[Change] = []
    notes: list[str] = []
    claimed: set[str] = set()
    for want in wanted:
        match = owned.get(want.name)
        if match is None or match.id in claimed:
            match = by_identity.get(want.identity)
        if match is None or match.id in claimed:
            writes.append(Change("create", want.name, wanted=want))
        elif not match.owned:
            notes.append(
                f"{want.name!r}: {want.identity} is already watched by {match.name!r} (id {match.id}), which "
                "Holdfast did not create: left as it is (give it Holdfast's tag to let Holdfast manage it)"
            )
        else:
            claimed.add(match.id)
            differing = {key: value for key, value in want.fields.items() if match.fields.get(key) != value}
            if differing:
                writes.append(Change("update", want.name, wanted=want, existing=match, fields=differing))
    writes += [
        Change("delete", monitor.name, existing=monitor)
        for monitor in existing
        if monitor.owned and monitor.id not in claimed
    ]
    return writes, notes


@dataclass(frozen=True)
class Recipient:
    """One way of reaching one contact of the escalation plan, and when."""

    contact: str  # key in escalation.contacts
    channel: Channel
    address: str  # the email address, phone number or chat handle
    delay: int  # seconds after the alert starts (the tier's escalate_after)


def recipients(escalation: Escalation) -> list[Recipient]:
    """Everyone the escalation plan alerts, on each channel of their tier, earliest tier
    first; a contact in several tiers is reached at the earliest."""
    found: dict[tuple[str, str], Recipient] = {}
    for tier in sorted(escalation.tiers, key=lambda tier: tier.escalate_after):
        for key in tier.members:
            contact = escalation.contacts[key]
            for channel in tier.channels:
                address = contact.address(channel)
                if address:
                    found.setdefault((key, channel), Recipient(key, channel, address, tier.escalate_after))
    return list(found.values())
