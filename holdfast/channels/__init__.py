"""Channel providers: how the external monitor's Alertmanager reaches people by chat,
phone and sms, one module each (as holdfast/providers/ has one per hosted monitor).
Email goes through the relay, as every alert did before.

Every provider module has the same small interface:

- ``NAME``: how messages name it;
- ``CHANNELS``: the channels it can deliver;
- ``DEFAULT_URL``: where it sends unless ``escalation.providers.<channel>.url`` says otherwise;
- ``receiver(delivery)``: one entry of a tier's Alertmanager receiver, as (its key, e.g.
  ``slack_configs``, the entry, and the secret files it reads: path -> content).

Alertmanager's native receivers do the sending (0.25 in Debian 12: slack_configs,
pagerduty_configs, webhook_configs; ntfy through a webhook and ntfy's own message
templates); Matrix, which no receiver speaks, through a small bridge on the monitor
host's loopback (``matrix``). Secrets come from the deploy's
environment and go to files only root and Alertmanager read (``*_file`` fields).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from holdfast import loading, settings
from holdfast.channels import matrix, ntfy, pagerduty, slack

# By their name in escalation.providers.<channel>.provider.
PROVIDERS: dict[str, ModuleType] = {"slack": slack, "ntfy": ntfy, "matrix": matrix, "pagerduty": pagerduty}
# Channels a ticket (severity "ticket") never uses: nobody is called or texted for one.
URGENT_CHANNELS = ("phone", "sms")


@dataclass(frozen=True)
class Delivery:
    """One channel of one tier, as a provider module renders it."""

    channel: str
    provider: settings.ChannelProvider
    tier: settings.Tier
    contacts: list[settings.Contact]
    secret: str
    token: str | None
    secret_dir: str
    send_resolved: bool

    @property
    def url(self) -> str:
        return (self.provider.url or PROVIDERS[self.provider.provider].DEFAULT_URL).rstrip("/")

    def secret_path(self, kind: str) -> str:
        """Where the monitor host keeps this channel's secret of ``kind`` (e.g. "key", "token")."""
        return secret_path(self.secret_dir, self.channel, kind)


def secret_path(secret_dir: str, channel: str, kind: str) -> str:
    """Where the monitor host keeps ``channel``'s secret of ``kind`` (in ``secret_dir``)."""
    return f"{secret_dir}/alertmanager-{channel}-{kind}"


@dataclass
class Receivers:
    """Each tier's receiver entries besides email (by tier: key -> entries), and the secret files."""

    entries: dict[str, dict[str, list[dict]]]
    secrets: dict[str, str]

    def without_urgent(self, escalation: settings.Escalation, tier: str) -> dict[str, list[dict]]:
        """The entries of ``tier`` that neither call nor text (for tickets)."""
        urgent = {PROVIDERS[escalation.providers[channel].provider].RECEIVER_KEY
                  for channel in URGENT_CHANNELS if channel in escalation.providers}
        return {key: entries for key, entries in self.entries[tier].items() if key not in urgent}


def _problems(escalation: settings.Escalation, environ: Mapping[str, str]) -> list[settings.Problem]:
    problems = []
    for index, tier in enumerate(escalation.tiers):
        for channel in tier.channels:
            if channel != "email" and channel not in escalation.providers:
                problems.append((("escalation", "tiers", index, "channels"), tier.channels,
                                 f"tier {tier.name} declares {channel}, but escalation.providers has no {channel!r}: "
                                 f"expected a provider for it there ({', '.join(_serving(channel))}), or no {channel}"))
    for channel, provider in escalation.providers.items():
        if channel not in PROVIDERS[provider.provider].CHANNELS:
            problems.append((("escalation", "providers", channel, "provider"), provider.provider,
                             f"expected one of {', '.join(_serving(channel))}: {provider.provider} cannot deliver "
                             f"{channel}"))
        if provider.provider == "matrix" and not provider.room:
            problems.append((("escalation", "providers", channel, "room"), provider.room,
                             "expected the Matrix room's ID (e.g. '!abcdefgh:example.org') for provider matrix"))
        for key in ("secret_env", "token_env"):
            name = getattr(provider, key)
            if name and not environ.get(name):
                problems.append((("escalation", "providers", channel, key), name,
                                 "expected a variable set in the deploy's environment (secrets come from the "
                                 "environment, never from group_data)"))
    return problems


def _serving(channel: str) -> list[str]:
    return [name for name, module in PROVIDERS.items() if channel in module.CHANNELS]


def receivers(escalation: settings.Escalation, send_resolved: bool, secret_dir: str,
              environ: Mapping[str, str] = os.environ) -> Receivers:
    """Every tier's chat, phone and sms deliveries, as Alertmanager receiver entries.

    Raises SettingsError (before any operation runs) for a tier's channel that no provider
    delivers, a provider that cannot deliver its channel, or a secret not in the environment.
    """
    problems = _problems(escalation, environ)
    if problems:
        raise loading.refuse(*problems)
    result = Receivers({}, {})
    for tier in escalation.tiers:
        entries = result.entries.setdefault(tier.name, {})
        for channel in tier.channels:
            if channel == "email":
                continue
            provider = escalation.providers[channel]
            delivery = Delivery(channel, provider, tier, escalation.tier_contacts(tier), environ[provider.secret_env],
                                environ.get(provider.token_env or ""), secret_dir, send_resolved)
            key, entry, secrets = PROVIDERS[provider.provider].receiver(delivery)
            entries.setdefault(key, []).append(entry)
            result.secrets.update(secrets)
    return result


# What every message says, in Alertmanager's templates (its notification data).
TITLE = ("[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }}{{ with .GroupLabels.host }} on {{ . }}{{ end }}"
         " ({{ .GroupLabels.tier }})")
ALERT_LINES = ("{{ range .Alerts.Firing }}FIRING since {{ .StartsAt }}: {{ .Annotations.summary }}"
               "{{ with .Annotations.runbook_url }} (runbook: {{ . }}){{ end }}\n"
               "{{ end }}{{ range .Alerts.Resolved }}RESOLVED at {{ .EndsAt }}: {{ .Annotations.summary }}\n{{ end }}")


def who(delivery: Delivery, field: str) -> str:
    """The tier's members as the message names them, with their address on ``field``."""
    return ", ".join(f"{contact.name} ({getattr(contact, field)})" if getattr(contact, field) else contact.name
                     for contact in delivery.contacts)
