import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from retell import Retell
from retell.lib.webhook_auth import symmetric
from retell.types.phone_call_response import PhoneCallResponse

from calls.voice import sign

WEBHOOK = "/api/v1/webhooks/voice/retell/"
KEY = "retell-test-key"


@pytest.fixture(autouse=True)
def retell_settings(settings):
    settings.RETELL_API_KEY = KEY


@pytest.fixture
def deliver(client):
    """deliver(payload, key=KEY, timestamp_ms=None, body=None) posts a signed webhook like the platform."""

    def post(payload, key=KEY, timestamp_ms=None, body=None, signature=None):
        raw = body if body is not None else json.dumps(payload).encode()
        headers = {}
        if signature is not False:
            headers["HTTP_X_RETELL_SIGNATURE"] = signature or sign(raw, key, timestamp_ms)
        return client.post(WEBHOOK, raw, content_type="application/json", **headers)

    return post


def platform_call(call_id="call_1", status="ended", **extra):
    now_ms = int(time.time() * 1000)
    call = {
        "call_id": call_id, "agent_id": "agent_x", "direction": "outbound", "call_status": status,
        "from_number": "+12125550100", "to_number": "+12125550123",
        "start_timestamp": now_ms - 120_000, "end_timestamp": now_ms - 30_000, "duration_ms": 90_000,
        "transcript": "Agent: Hi!\nUser: Hello.",
        "transcript_object": [{"role": "agent", "content": "Hi!"}, {"role": "user", "content": "Hello."}],
        "recording_url": "https://recordings.example/call_1.wav", "disconnection_reason": "user_hangup",
        "metadata": {},
    }
    call.update(extra)
    return call


def sdk_platform_call(call_id, *, to_number, metadata, status="ended", reason="user_hangup",
                      from_number="+12125550100", **fields):
    """A call as the platform's SDK (retell-sdk's PhoneCallResponse) describes it, serialized as sent."""
    now_ms = int(time.time() * 1000)
    model = PhoneCallResponse(**{
        "call_id": call_id, "agent_id": "agent_gym_a", "agent_version": 1, "call_status": status,
        "call_type": "phone_call", "direction": "outbound", "from_number": from_number, "to_number": to_number,
        "disconnection_reason": reason if status in ("ended", "not_connected", "error") else None,
        "start_timestamp": now_ms - 90_000, "end_timestamp": now_ms - 10_000 if status != "ongoing" else None,
        "duration_ms": 80_000, "transcript": "Agent: Hi!\nUser: Hello.",
        "transcript_object": [{"role": "agent", "content": "Hi!", "words": []},
                              {"role": "user", "content": "Hello.", "words": []}],
        "metadata": metadata, **fields})
    return model.model_dump(mode="json", exclude_none=True)


def sdk_deliver(client, event, call_body, key=KEY):
    """POST the event as the platform does: its JSON, signed by the SDK's own helper."""
    raw = json.dumps({"event": event, "call": call_body})
    signature = symmetric["sign"](raw, key)
    assert Retell(api_key=key).verify(raw, key, signature)  # the SDK accepts its own signature
    return client.post(WEBHOOK, raw, content_type="application/json", HTTP_X_RETELL_SIGNATURE=signature)


class FakePlatform:
    """A local HTTP server standing in for the voice platform's API; it records what it was sent.

    Like the platform, it places one call per idempotency key (`placed`), and answers a repeat with that
    call. `responses` are answered first, in order, as (status, body) or (status, body, seconds to wait
    before answering: a slow 201 still places its call); a body of "placed" places the call and then
    answers the error status. get-call answers from `calls`.
    """

    def __init__(self):
        self.requests, self.responses, self.placed, self.calls = [], [], [], {}
        self.lock = threading.Lock()  # dispatchers on several threads place calls at once
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                platform.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, answer, wait = (*platform.responses.pop(0), 0)[:3] if platform.responses else (201, None, 0)
                if status == 201 and (answer is None or wait):  # (slow, but it did place the call)
                    answer = platform.place(body)
                elif answer == "placed":  # placed the call, then failed to say so
                    platform.place(body)
                    answer = {"error_message": "Internal server error"}
                time.sleep(wait)
                self.answer(status, answer)

            def do_GET(self):
                platform.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                call_id = self.path.rsplit("/", 1)[-1]
                if platform.responses:
                    self.answer(*platform.responses.pop(0)[:2])
                elif call_id in platform.calls:
                    self.answer(200, platform.calls[call_id])
                else:
                    self.answer(404, {"error_message": "Call not found"})

            def answer(self, status, answer):
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def place(self, body):
        """The call for this request: a new one, unless its idempotency key placed one already."""
        key = body.get("idempotency_key")
        with self.lock:
            for call in self.placed:
                if key is not None and call["idempotency_key"] == key:
                    return {"call_id": call["call_id"], "call_status": "registered"}
            call_id = f"call_{len(self.placed) + 1}"
            self.placed.append({"call_id": call_id, "idempotency_key": key, "to_number": body.get("to_number")})
        return {"call_id": call_id, "call_status": "registered"}

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_platform(settings):
    platform = FakePlatform()
    settings.RETELL_API_BASE = platform.url
    yield platform
    platform.close()
