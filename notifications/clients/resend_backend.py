"""anymail's Resend backend, plus Resend's idempotency key as the HTTP header Resend documents.

Resend: "Send the key in the Idempotency-Key HTTP header in your API requests" on POST /emails;
a repeat with the same key within 24 hours returns the first response without sending again
(https://resend.com/docs/dashboard/emails/idempotency-keys; CONTRACTS 5.1). anymail 15's Resend
payload builds the request headers in `ResendPayload.__init__` and has no option for extra HTTP
headers (`esp_extra` only merges into the JSON body), so this subclass adds it from the message's
`idempotency_key` attribute (set by `notifications.clients.email.send_email`).

    EMAIL_BACKEND=notifications.clients.resend_backend.EmailBackend   # with RESEND_API_KEY
"""

from __future__ import annotations

from anymail.backends.resend import EmailBackend as AnymailResendBackend
from anymail.backends.resend import ResendPayload

IDEMPOTENCY_HEADER = "Idempotency-Key"


class IdempotentResendPayload(ResendPayload):
    def __init__(self, message, defaults, backend, *args, **kwargs):
        super().__init__(message, defaults, backend, *args, **kwargs)
        key = getattr(message, "idempotency_key", "")
        if key:
            self.headers[IDEMPOTENCY_HEADER] = str(key)[:256]


class EmailBackend(AnymailResendBackend):
    def build_message_payload(self, message, defaults):
        return IdempotentResendPayload(message, defaults, self)
