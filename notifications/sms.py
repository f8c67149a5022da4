"""Text messages: a client for Twilio's Messages API, and backends for development and tests.

settings.SMS_BACKEND names the backend, as EMAIL_BACKEND does for email: "notifications.sms.TwilioBackend"
in production (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN; TWILIO_API_BASE points tests at a local fake),
"notifications.sms.ConsoleBackend" in development (it logs the message), "notifications.sms.LocmemBackend"
in tests (it keeps them in `sms.outbox`).

Twilio takes no idempotency key for a message, so a send that may have reached it (a timeout, a 5xx) is not
simply sent again: find_sent first looks in the account's messages to that number for one with the same
body created since the first attempt, that no other notification has recorded (services.deliver does).
"""

import base64
import datetime
import email.utils
import http.client
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("reps.sms")

# Twilio's error codes that mean the message will never go to this number.
OPTED_OUT = 21610  # the recipient replied STOP: "Attempt to send to unsubscribed recipient"
PERMANENT = {21211, 21214, 21217, 21610, 21612, 21614, 21408}  # invalid, unreachable or not a mobile number
NOT_SENT_STATUSES = {"failed", "undelivered", "canceled"}


class SmsError(Exception):
    """The provider did not take the message.

    `permanent`: it never will (a bad number, an opted-out recipient: `opted_out`); otherwise try again
    later. `uncertain`: it may have taken it (a timeout, a 5xx), so look before sending again.
    """

    def __init__(self, message: str, *, permanent: bool = False, opted_out: bool = False,
                 uncertain: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent or opted_out
        self.opted_out = opted_out
        self.uncertain = uncertain


def get_backend() -> Any:
    return import_string(settings.SMS_BACKEND)()


class TwilioBackend:
    """POST /2010-04-01/Accounts/{sid}/Messages.json to send, GET it to look for a message already sent."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None, base_url: str | None = None,
                 timeout: float | None = None) -> None:
        self.account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        self.auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        self.base_url = (base_url or settings.TWILIO_API_BASE).rstrip("/")
        self.timeout = timeout or settings.SMS_TIMEOUT_SECONDS

    @property
    def messages_path(self) -> str:
        return f"/2010-04-01/Accounts/{urllib.parse.quote(self.account_sid, safe='')}/Messages.json"

    def send(self, *, to: str, from_: str, body: str) -> str:
        """Send; the message's sid."""
        answer = self._request("POST", self.messages_path, {"To": to, "From": from_, "Body": body})
        if not answer.get("sid"):
            raise SmsError(f"the SMS provider took the message without saying its sid: {str(answer)[:200]}",
                           uncertain=True)
        return str(answer["sid"])

    def find_sent(self, *, to: str, from_: str, body: str, since: datetime.datetime,
                  exclude: frozenset[str] = frozenset()) -> str | None:
        """The sid of a message with this body to `to` from `from_`, created at or after `since` and not in
        `exclude` (the sids other notifications recorded), if any. Not by Twilio's DateSent filter: a message
        still queued (behind the number's rate) has no date_sent yet. Newest first, until older than `since`."""
        query = {"To": to, "From": from_, "PageSize": "100"}
        path: str | None = f"{self.messages_path}?{urllib.parse.urlencode(query)}"
        for _page in range(10):  # at most 1,000 messages to one number since the first attempt: plenty
            if path is None:
                break
            answer = self._request("GET", path)
            for message in answer.get("messages") or []:
                created = created_at(message)
                if created is not None and created < since:
                    return None
                if (message.get("body") == body and message.get("status") not in NOT_SENT_STATUSES
                        and message.get("sid") and message["sid"] not in exclude):
                    return str(message["sid"])
            path = answer.get("next_page_uri")
        return None

    def _request(self, method: str, path: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        if not (self.account_sid and self.auth_token):
            raise SmsError("No SMS provider account is configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN).")
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(
            self.base_url + path, method=method,
            data=None if form is None else urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {credentials}", "Accept": "application/json",
                     **({} if form is None else {"Content-Type": "application/x-www-form-urlencoded"})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()[:2000]
            try:
                detail = json.loads(raw)
            except ValueError:
                detail = None
            if not isinstance(detail, dict):  # a proxy's page, or JSON that is not Twilio's error
                detail = {"message": raw.decode(errors="replace")[:200]}
            code = detail.get("code")
            message = f"the SMS provider answered {error.code}: {detail.get('message', '')} (code {code})"
            if error.code in (401, 403):  # our account, not the message: fix the settings, then it goes
                raise SmsError(message) from None
            transient = error.code in (408, 409, 429) or error.code >= 500
            raise SmsError(message, permanent=not transient, opted_out=code == OPTED_OUT,
                           uncertain=transient and method == "POST") from None
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, TLS, a broken answer
            refused = isinstance(getattr(error, "reason", error), ConnectionRefusedError)
            raise SmsError(f"the SMS provider did not answer: {error!r}", uncertain=not refused) from None
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise SmsError(f"the SMS provider's answer is not Twilio's JSON: {raw[:200]!r}", uncertain=True)
        return answer


def created_at(message: dict[str, Any]) -> datetime.datetime | None:
    """A Twilio message's date_created (RFC 2822, like "Tue, 01 Dec 2026 23:00:00 +0000"), if readable."""
    try:
        return email.utils.parsedate_to_datetime(str(message.get("date_created")))
    except (TypeError, ValueError):
        return None


@dataclass
class SentSms:
    sid: str
    to: str
    from_: str
    body: str
    sent_at: datetime.datetime


outbox: list[SentSms] = []  # LocmemBackend's messages, like django.core.mail.outbox


class LocmemBackend:
    """Keeps each message in `outbox` (tests)."""

    def send(self, *, to: str, from_: str, body: str) -> str:
        message = SentSms(f"SM{uuid.uuid4().hex}", to, from_, body, datetime.datetime.now(datetime.UTC))
        outbox.append(message)
        return message.sid

    def find_sent(self, *, to: str, from_: str, body: str, since: datetime.datetime,
                  exclude: frozenset[str] = frozenset()) -> str | None:
        return next((message.sid for message in outbox
                     if (message.to, message.from_, message.body) == (to, from_, body) and message.sent_at >= since
                     and message.sid not in exclude), None)


class ConsoleBackend(LocmemBackend):
    """Logs each message and keeps it like LocmemBackend (development: `make run` shows the texts it sends)."""

    def send(self, *, to: str, from_: str, body: str) -> str:
        sid = super().send(to=to, from_=from_, body=body)
        logger.info("SMS %s from %s to %s: %s", sid, from_, to, body)
        return sid
