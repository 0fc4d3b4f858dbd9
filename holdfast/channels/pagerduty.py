"""Phone and sms through PagerDuty's Events API v2: Alertmanager's pagerduty_configs.
PagerDuty calls or texts the people of its service's escalation policy; the event names
the tier and its members' numbers. The integration's routing key is the secret, in a
file Alertmanager reads (routing_key_file)."""

from holdfast import channels

NAME = "PagerDuty"
CHANNELS = ("phone", "sms")
DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
RECEIVER_KEY = "pagerduty_configs"


def receiver(delivery) -> tuple[str, dict, dict[str, str]]:
    key_file = delivery.secret_path("routing-key")
    return RECEIVER_KEY, {
        "routing_key_file": key_file,
        "url": delivery.url,
        "send_resolved": delivery.send_resolved,
        "severity": "critical",
        "description": channels.TITLE,
        "details": {"tier": delivery.tier.name, "call": channels.who(delivery, "phone"), "by": delivery.channel,
                    "alerts": channels.ALERT_LINES},
    }, {key_file: delivery.secret}
