"""Chat through a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat):
Alertmanager's slack_configs. The webhook URL's last part is the secret; the whole URL
goes to a file Alertmanager reads (api_url_file). The message names the tier's members
by their chat handle."""

from holdfast import channels

NAME = "Slack-compatible webhook"
CHANNELS = ("chat",)
DEFAULT_URL = "https://hooks.slack.com/services"
RECEIVER_KEY = "slack_configs"


def receiver(delivery) -> tuple[str, dict, dict[str, str]]:
    url_file = delivery.secret_path("webhook")
    return RECEIVER_KEY, {
        "api_url_file": url_file,
        "send_resolved": delivery.send_resolved,
        "title": channels.TITLE,
        "text": f"For {delivery.tier.name}: {channels.who(delivery, 'chat')}\n{channels.ALERT_LINES}",
    }, {url_file: f"{delivery.url}/{delivery.secret.strip('/')}"}
