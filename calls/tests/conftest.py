import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


class FakePlatform:
    """A local HTTP server standing in for the voice platform's API; it records what it was sent."""

    def __init__(self):
        self.requests, self.responses = [], []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                platform.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, answer = platform.responses.pop(0) if platform.responses else (
                    201, {"call_id": f"call_{len(platform.requests)}", "call_status": "registered"})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_platform(settings):
    platform = FakePlatform()
    settings.RETELL_API_BASE = platform.url
    yield platform
    platform.close()
