"""Hosted monitor providers, one module each, in the spirit of borgmatic's monitoring hooks.

Every provider module has the same small interface:

- ``NAME``: how messages name it;
- ``connect(hosted, key)``: its ``Api``, authenticated with the API key;
- ``wanted(api, fleet, hosted)``: the monitors the inventory asks for (reads, e.g. to
  resolve alert contacts), with notes on what it cannot arrange;
- ``existing(api, hosted)``: the monitors the provider has (reads);
- ``create``, ``update``, ``delete(api, change, hosted)``: one write each;
- ``maintenance(api, hosted)``: the maintenance Holdfast holds open there, one line each
  (reads; for ``holdfast status``).

``plan`` reads a provider and says what would change; ``apply`` writes it. They are kept
apart so that reading happens while pyinfra prepares and writing only when it executes.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

from holdfast.providers import healthchecks, uptimerobot
from holdfast.providers.api import Api, KeyRefused, ProviderError
from holdfast.providers.model import Change, changes
from holdfast.settings import HostedMonitors, HostSettings

# By their key in hosted_monitors.
PROVIDERS: dict[str, ModuleType] = {"uptimerobot": uptimerobot, "healthchecks": healthchecks}


@dataclass
class Plan:
    """What one provider needs to match the inventory: writes, and notes on the rest."""

    provider: ModuleType
    hosted: HostedMonitors
    api: Api | None = None
    writes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def summary(self) -> str:
        actions = [change.action for change in self.writes]
        return ", ".join(f"{action} {actions.count(action)}" for action in ("create", "update", "delete"))

    def lines(self) -> list[str]:
        """The plan as the deploy prints it, one line each."""
        name = self.provider.NAME
        if self.skipped:
            return [f"{name}: skipped, {self.skipped}"]
        head = f"{name}: {self.summary()}" if self.writes else f"{name}: up to date, nothing to change"
        return [head, *(f"{name}:   {change}" for change in self.writes),
                *(f"{name}:   note: {note}" for note in self.notes)]


def plan(
    key: str, fleet: dict[str, HostSettings], hosted: HostedMonitors, environ: Mapping[str, str] = os.environ
) -> Plan:
    """Read provider ``key`` (only reads) and plan the writes that bring it in step with ``fleet``,
    the settings of every host of the inventory by name."""
    provider = PROVIDERS[key]
    key_env = getattr(hosted, key).api_key_env
    api_key = environ.get(key_env)
    if not api_key:
        return Plan(provider, hosted, skipped=f"{key_env} is not set: its monitors are left as they are")
    api = provider.connect(hosted, api_key)
    try:
        wanted, notes = provider.wanted(api, fleet, hosted)
        writes, kept = changes(wanted, provider.existing(api, hosted))
    except KeyRefused as error:
        raise ProviderError(f"{error} (the key in {key_env}); nothing was changed") from None
    return Plan(provider, hosted, api, writes, notes + kept)


def apply(plan: Plan) -> None:
    """Make the plan's writes, in order."""
    for change in plan.writes:
        getattr(plan.provider, change.action)(plan.api, change, plan.hosted)
