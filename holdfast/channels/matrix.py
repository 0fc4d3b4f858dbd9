"""Chat through a Matrix room: the client-server API's PUT
/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId} with the access token as a
Bearer token. Alertmanager has no Matrix receiver and its webhook only POSTs its own JSON,
so its webhook_configs calls the Matrix bridge on the monitor host's loopback
(templates/monitoring/usr/local/sbin/holdfast-matrix-bridge.j2), which sends the message.
The homeserver, room and access token go to a file only root and Alertmanager's user read;
the message mentions the tier's members by their chat handle (their Matrix user ID)."""

import json
import re
import urllib.parse

from holdfast import channels

NAME = "Matrix"
CHANNELS = ("chat",)
DEFAULT_URL = "https://matrix-client.matrix.org"
RECEIVER_KEY = "webhook_configs"
# Where the bridge listens (loopback only): POST /<channel>?who=...&mention=...
BRIDGE_PORT = 9096
SECRET_KIND = "matrix"
USER_ID = re.compile(r"@[^\s:]+:\S+")


def receiver(delivery) -> tuple[str, dict, dict[str, str]]:
    mentions = [contact.chat for contact in delivery.contacts if contact.chat and USER_ID.fullmatch(contact.chat)]
    query = urllib.parse.urlencode([("who", channels.who(delivery, "chat")),
                                    *(("mention", user) for user in mentions)])
    target = {"url": delivery.url, "room": delivery.provider.room, "token": delivery.secret}
    return RECEIVER_KEY, {
        "url": f"http://127.0.0.1:{BRIDGE_PORT}/{delivery.channel}?{query}",
        "send_resolved": delivery.send_resolved,
    }, {delivery.secret_path(SECRET_KIND): json.dumps(target)}
