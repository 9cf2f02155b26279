"""An ASGI app behind a real uvicorn server, in a thread, for tests that need a socket."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

from loopmeter.services import free_ports
from tests.support.live import wait_for

START_TIMEOUT_S = 10.0


@contextmanager
def serving(app: Any, lifespan: Literal["auto", "on", "off"] = "auto") -> Iterator[str]:
    """Serve `app` on a free loopback port until the block ends; yield its base URL."""
    port = free_ports(1)[0]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        # uvicorn offers a flag, not an event; a server that failed to start ends its thread.
        wait_for(lambda: server.started or not thread.is_alive(), START_TIMEOUT_S)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT_S)
