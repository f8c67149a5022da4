"""The voice platform (Retell): webhook signatures, and a client for its create-phone-call API."""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
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
    """The voice platform refused or did not answer; `retryable` says whether a later try may work."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable


class RetellClient:
    """POST /v2/create-phone-call with timeouts, and retries where a retry cannot place a call twice.

    It retries when the platform could not have started the call: the
    connection was refused, or it answered 429 or 5xx before doing anything.
    It does not retry a request that may have been received (a read timeout):
    the call, if it was placed, still reports back through the webhooks,
    whose metadata names our call log.
    """

    def __init__(self, api_key=None, base_url=None, timeout=None, retries=None, backoff=0.5):
        self.api_key = api_key or settings.RETELL_API_KEY
        self.base_url = (base_url or settings.RETELL_API_BASE).rstrip("/")
        self.timeout = timeout or settings.RETELL_TIMEOUT_SECONDS
        self.retries = settings.RETELL_RETRIES if retries is None else retries
        self.backoff = backoff

    def create_phone_call(self, *, from_number, to_number, agent_id, metadata, dynamic_variables):
        body = {"from_number": from_number, "to_number": to_number, "metadata": metadata,
                "retell_llm_dynamic_variables": dynamic_variables}
        if agent_id:
            body["override_agent_id"] = agent_id
        return self._post("/v2/create-phone-call", body)

    def _post(self, path, body):
        if not self.api_key:
            raise PlatformError("No voice-platform API key is configured (RETELL_API_KEY).")
        data = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.base_url + path, data=data, method="POST",
                headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read() or b"{}")
            except urllib.error.HTTPError as error:
                detail = error.read()[:500].decode(errors="replace")
                failure = PlatformError(f"{path} answered {error.code}: {detail}",
                                        retryable=error.code == 429 or error.code >= 500)
            except urllib.error.URLError as error:
                refused = isinstance(error.reason, ConnectionRefusedError)
                failure = PlatformError(f"{path} unreachable: {error.reason}", retryable=refused)
            except TimeoutError as error:
                failure = PlatformError(f"{path} timed out: {error}", retryable=False)
            if not failure.retryable or attempt == self.retries:
                raise failure
            logger.warning("Voice platform: %s; retrying (%d/%d)", failure, attempt + 1, self.retries)
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")
