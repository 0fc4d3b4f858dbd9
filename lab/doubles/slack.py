"""A double of a Slack incoming webhook, from Slack's published documentation
(https://api.slack.com/messaging/webhooks: "Sending messages using incoming webhooks" and
its "Handling errors"); Mattermost's and Rocket.Chat's Slack-compatible webhooks take
the same requests.

``POST`` of a JSON message to the webhook's URL (``https://hooks.slack.com/services/<T>/<B>/<secret>``);
the message needs ``text``, ``blocks`` or (legacy) ``attachments``, each attachment with
``text``, ``title`` or ``fallback``. Answers are text: ``ok`` (200); ``invalid_payload``
(400) for a body that is not a JSON object; ``no_text`` (400) for a message with nothing
to show; ``no_service`` (404) for a URL that is no webhook (a wrong or revoked secret).
"""

from lab.doubles import Answer, Double


class SlackDouble(Double):
    def __init__(self, secret: str, address: str = "127.0.0.1", port: int = 0, base_path: str = "/services"):
        super().__init__(address, port)
        self.path = f"{base_path.rstrip('/')}/{secret.strip('/')}"
        self.messages: list[dict] = []

    def texts(self) -> list[str]:
        """Every message received, as one text: its text, then each attachment's title and text."""
        return ["\n".join([message.get("text") or "", *(f"{part.get('title', '')}\n{part.get('text', '')}"
                                                       for part in message.get("attachments") or [])])
                for message in self.messages]

    def answer(self, method, path, query, body, headers) -> Answer:
        if method != "POST" or path != self.path:
            return Answer(404, "no_service")
        if not isinstance(body, dict):
            return Answer(400, "invalid_payload")
        shown = body.get("text") or body.get("blocks") or [
            part for part in body.get("attachments") or []
            if part.get("text") or part.get("title") or part.get("fallback")
        ]
        if not shown:
            return Answer(400, "no_text")
        self.messages.append(body)
        return Answer(200, "ok")
