"""Chat (push notifications) through ntfy: Alertmanager's webhook_configs, posting its
notification JSON to the topic with ntfy's message templates (``tpl=1``, ntfy 2.10 and
later) making title and message of it. The topic is the secret (it is in the URL, in the
root-and-Alertmanager-only alertmanager.yml); an access token, if any, goes to a file
(the webhook's bearer credentials_file)."""

import urllib.parse

NAME = "ntfy"
CHANNELS = ("chat",)
DEFAULT_URL = "https://ntfy.sh"
RECEIVER_KEY = "webhook_configs"
# ntfy's templates read the webhook's JSON (Alertmanager's notification, lower-case keys).
TITLE = "[{{.status}}] {{.groupLabels.alertname}} ({{.groupLabels.tier}})"
MESSAGE = "{{range .alerts}}{{.status}}: {{.annotations.summary}}\n{{end}}"


def receiver(delivery) -> tuple[str, dict, dict[str, str]]:
    members = ", ".join(contact.name for contact in delivery.contacts)
    query = urllib.parse.urlencode({"tpl": "1", "t": TITLE, "m": f"{MESSAGE}For {delivery.tier.name}: {members}"})
    entry = {"url": f"{delivery.url}/{urllib.parse.quote(delivery.secret, safe='')}?{query}",
             "send_resolved": delivery.send_resolved}
    secrets = {}
    if delivery.token:
        token_file = delivery.secret_path("token")
        entry["http_config"] = {"authorization": {"credentials_file": token_file}}
        secrets[token_file] = delivery.token
    return RECEIVER_KEY, entry, secrets
