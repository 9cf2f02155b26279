"""The printable report page, served by uvicorn and rendered by headless Chromium.

Chromium cannot send an Authorization header from the command line, so the test puts a thin
ASGI wrapper in front of the gateway that adds the auditor's token, as an authenticating
reverse proxy would. The screenshot is kept under test-artifacts/gateway/.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.core.security import Role
from loopmeter.services import free_ports
from tests.gateway.carbon_day import LABEL, SCOPE1_KG, SCOPE2_KG, TOTAL_KG, close_day
from tests.gateway.conftest import FakeGateway, fake_gateway

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "gateway"
START_TIMEOUT_S = 10.0
CHROMIUM_TIMEOUT_S = 90.0


class WithToken:
    """ASGI middleware that authenticates every request with one bearer token."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.header = (b"authorization", f"Bearer {token}".encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {**scope, "headers": [*scope["headers"], self.header]}
        await self.app(scope, receive, send)


@pytest.fixture
def served() -> Iterator[tuple[str, FakeGateway]]:
    fake = fake_gateway()
    close_day(fake.ledger, "zz")
    port = free_ports(1)[0]
    app = WithToken(fake.app, fake.records[Role.AUDITOR][1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):  # uvicorn offers a flag, not an event
        if server.started or not thread.is_alive():
            break
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", fake
    server.should_exit = True
    thread.join(START_TIMEOUT_S)


def chromium(*args: str) -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_report_page_shows_the_key_figures(served: tuple[str, FakeGateway]) -> None:
    base, fake = served
    url = f"{base}/v1/reports/carbon/zz/{LABEL}?format=html"
    dom = chromium("--dump-dom", url)
    record = fake.ledger.latest("zz", LABEL)
    assert record is not None
    assert f"Energy and carbon report zz {LABEL}" in dom
    for figure in (SCOPE1_KG, SCOPE2_KG, TOTAL_KG, record.hash):
        assert figure in dom, figure
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "carbon-report.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a blank page compresses to far less
