"""bench_servers without data, and its wrk script spreading the load over two servers (the real run is
`make bench-servers`)."""

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from reps.core.management.commands.bench_servers import Command, wrk_binary


@pytest.mark.django_db
def test_bench_servers_refuses_without_generated_data():
    with pytest.raises(CommandError, match="generate_data"):
        call_command("bench_servers", stdout=io.StringIO())


def test_the_load_is_spread_over_every_server(tmp_path):
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers["Authorization"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    command = Command()
    # wrk as the bench takes it: Debian's, installed when missing (as root), as the browser tests' Chromium is.
    command.wrk, command.tmp, command.token, command.connections, command.seconds = wrk_binary(), tmp_path, "t", 4, 1
    try:
        figures = command.load([server.server_address[1] for server in servers], "/", [])
    finally:
        for server in servers:
            server.shutdown()
    assert figures["requests"] > 0 and sum(figures["errors"].values()) == 0
    assert all(count > 0 for count in figures["per_instance"]) and set(seen) == {"Token t"}
    assert figures["median_ms"] <= figures["p95_ms"]
