"""`/metrics` (Prometheus text) and `/healthz` (JSON) on a small thread server.

Every long-running Loopmeter service (ingest workers, the energy-carbon service) serves its
operations endpoints with this; the gateway has FastAPI routes of its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest

from adapters.errors import PortInUse, is_port_in_use

Health = Callable[[], dict[str, object]]  # must hold "ok": healthz answers 503 when false


class OpsServer:
    """Serves /metrics and /healthz until `stop`; `port` is the bound port (0 picks one)."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, healthy: Health,
                 name: str = "ops-http", setting: str = "its port setting") -> None:
        """`setting` names the option or environment variable that chose `port`."""
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(registry, healthy))
        except OSError as error:
            if is_port_in_use(error):
                raise PortInUse(port, setting) from error
            raise
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=name,
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(registry: CollectorRegistry, healthy: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, "text/plain; version=0.0.4", generate_latest(registry))
            elif self.path == "/healthz":
                health = healthy()
                self._send(200 if health["ok"] else 503, "application/json",
                           json.dumps(health).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:  # scrapes are not worth a log line
            return

    return Handler
