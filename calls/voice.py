"""The voice platform (Retell): webhook signatures, and a client for its create-phone-call and get-call API."""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

logger = logging.getLogger("reps.voice")


class SignatureError(Exception):
    """The webhook is unsigned, badly signed or stale."""


def sign(body, api_key, timestamp_ms=None):
    """The X-Retell-Signature value for `body` (bytes): v=<unix ms>,d=<hex HMAC-SHA256 of body + ms>."""
    timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    digest = hmac.new(api_key.encode(), body + str(timestamp_ms).encode(), hashlib.sha256).hexdigest()
    return f"v={timestamp_ms},d={digest}"


def verify(body, header, api_keys, now_ms=None):
    """Raise SignatureError unless `header` signs the raw `body` with one of `api_keys`, recently."""
    if not header:
        raise SignatureError("missing X-Retell-Signature")
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp_ms = int(parts["v"])
        digest = parts["d"]
    except (KeyError, ValueError):
        raise SignatureError("malformed X-Retell-Signature") from None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - timestamp_ms) > settings.RETELL_SIGNATURE_TOLERANCE_SECONDS * 1000:
        raise SignatureError("stale X-Retell-Signature")
    for key in filter(None, api_keys):
        expected = hmac.new(key.encode(), body + str(timestamp_ms).encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, digest):
            return
    raise SignatureError("bad X-Retell-Signature")


class PlatformError(Exception):
    """The voice platform refused or did not answer.

    `uncertain`: the request may have reached it, so the call may exist. Such a call is sent again later
    with the same idempotency key, which the platform answers with the call it made, never a second one.
    """

    def __init__(self, message, uncertain=False):
        super().__init__(message)
        self.uncertain = uncertain


class RetellClient:
    """The platform's create-phone-call and get-call, with timeouts, and retries that cannot place a call twice.

    Every create-phone-call carries an idempotency key (our call log's id): for an hour the platform
    answers a repeat with the call it made for the key. So a request that was refused with 429 or 5xx,
    or could not connect, is retried with the same body; a timeout is not retried here (the dispatcher
    sends it again later, with the same key). Only a definite refusal (another 4xx) means no call.
    """

    def __init__(self, api_key=None, base_url=None, timeout=None, retries=None, backoff=0.5):
        self.api_key = api_key or settings.RETELL_API_KEY
        self.base_url = (base_url or settings.RETELL_API_BASE).rstrip("/")
        self.timeout = timeout or settings.RETELL_TIMEOUT_SECONDS
        self.retries = settings.RETELL_RETRIES if retries is None else retries
        self.backoff = backoff

    def create_phone_call(self, *, from_number, to_number, idempotency_key, metadata, dynamic_variables,
                          agent_id="", agent_version=None, agent_override=None):
        """POST /v2/create-phone-call; the body is the one retell-sdk sends for the same arguments."""
        body = {"from_number": from_number, "to_number": to_number,
                # The platform refuses a number on its own do-not-call list, whatever we believe.
                "honor_internal_dnc": True, "idempotency_key": idempotency_key, "metadata": metadata,
                "retell_llm_dynamic_variables": dynamic_variables}
        if agent_id:
            body["override_agent_id"] = agent_id
        if agent_version is not None:
            body["override_agent_version"] = agent_version
        if agent_override:
            body["agent_override"] = agent_override
        return self._request("POST", "/v2/create-phone-call", body)

    def get_call(self, call_id):
        """GET /v2/get-call/{call_id}: the call as the platform knows it (what its webhooks carry)."""
        return self._request("GET", f"/v2/get-call/{urllib.parse.quote(call_id, safe='')}")

    def _request(self, method, path, body=None):
        if not self.api_key:
            raise PlatformError("No voice-platform API key is configured (RETELL_API_KEY).")
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.base_url + path, data=data, method=method,
                headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
            )
            retry = False
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                detail = error.read()[:500].decode(errors="replace")
                retry = error.code in (408, 409, 429) or error.code >= 500
                failure = PlatformError(f"{path} answered {error.code}: {detail}", uncertain=retry)
            except urllib.error.URLError as error:
                retry = isinstance(error.reason, ConnectionError)
                failure = PlatformError(f"{path} unreachable: {error.reason}", uncertain=True)
            except (TimeoutError, ConnectionError) as error:
                failure = PlatformError(f"{path} did not answer: {error!r}", uncertain=True)
            if not retry or attempt == self.retries:
                raise failure
            logger.warning("Voice platform: %s; retrying (%d/%d)", failure, attempt + 1, self.retries)
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")
