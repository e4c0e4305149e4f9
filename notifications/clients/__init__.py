"""Provider clients for the notification channels (one module per provider, `circletel.http.send`)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    """What a provider told us about an accepted message."""

    message_id: str = ""
    provider: str = ""
