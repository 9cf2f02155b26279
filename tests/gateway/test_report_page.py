"""The printable report page, served by uvicorn and rendered by headless Chromium.

Chromium cannot send an Authorization header from the command line, so the test puts a thin
ASGI wrapper in front of the gateway that adds the auditor's token, as an authenticating
reverse proxy would. The screenshot, and page 1 of each PDF as a PNG, are kept under
test-artifacts/gateway/.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from carbon.cli import app as carbon_cli
from carbon.document.display import CO2, shown
from carbon.ledger import Ledger, SQLiteStore
from gateway.core.security import Role
from tests.gateway.carbon_day import (
    LABEL,
    SCOPE1_KG,
    SCOPE2_KG,
    TOTAL_KG,
    close_day,
    close_days,
)
from tests.gateway.conftest import SITES, FakeGateway, fake_gateway
from tests.support.asgi import serving

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "gateway"
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
    app = WithToken(fake.app, fake.records[Role.AUDITOR][1])
    with serving(app) as url:
        yield url, fake


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
    for figure in (SCOPE1_KG, SCOPE2_KG, TOTAL_KG):  # printed in t CO2, 3 decimals
        assert f"{Decimal(figure) / 1000:.3f}" in dom, figure
    assert record.hash in dom
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "carbon-report.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a blank page compresses to far less


def pdf_text(pdf: bytes, folder: Path) -> str:
    source = folder / "report.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(["pdftotext", "-layout", str(source), "-"], capture_output=True,
                            text=True, check=True, timeout=60)
    return result.stdout


def page_one_png(pdf: bytes, name: str, folder: Path) -> Path:
    """Page 1 of the PDF as a PNG under test-artifacts/gateway/ (poppler's pdftoppm)."""
    source = folder / f"{name}.pdf"
    source.write_bytes(pdf)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = ARTIFACTS / name
    Path(f"{stem}.png").unlink(missing_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(source), str(stem)], check=True, timeout=60)
    return Path(f"{stem}.png")


@pytest.mark.parametrize(("period", "figures"), [
    (LABEL, ("13.912", "7.119", "6.793", "11,520.0", "第 1 页", "page 1 of")),
    ("2026-10", ("2026-10-05", "2026-10-07", "按日 / by day")),
    # three days summed from their records, each day's hash listed
    ("2026-10-05..2026-10-07", ("多日合计", "2026-10-06", "本报告为所列账本记录之和"))])
def test_pdf_reports_print_in_chromium(served: tuple[str, FakeGateway], period: str,
                                       figures: tuple[str, ...], tmp_path: Path) -> None:
    base, fake = served
    if period != LABEL:  # three closed days (with their hours) and their month
        close_days(fake.ledger, "zz", 3)
    response = httpx.get(f"{base}/v1/reports/carbon/zz/{period}", params={"format": "pdf"},
                         timeout=CHROMIUM_TIMEOUT_S)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content, tmp_path)
    record = fake.ledger.latest("zz", period.split("..")[-1])
    assert record is not None
    parts = ("2026-10-05", "2026-10-06", "2026-10-07") if ".." in period else (period,)
    total = sum(site_total(fake.ledger, label) for label in parts)
    for figure in (*figures, shown(total, CO2), "温室气体排放与能源消耗报告",
                   "郑州绿环再生资源有限公司", "91410100MA45Q7XK2B", f"zz · {period}",
                   record.hash[:40]):
        assert figure in text, figure
    shot = page_one_png(response.content, f"carbon-report-{period}", tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 30_000  # Chinese glyphs drawn, not tofu or blank


def site_total(ledger: Ledger, label: str) -> Decimal:
    """The site's CO2 total (kg) in the newest record of a period."""
    record = ledger.latest("zz", label)
    assert record is not None
    rows = record.data()["results"]["rows"]
    return Decimal(next(r for r in rows if r["level"] == "site")["values"]["co2_total_kg"])


def test_cli_prints_pdf_and_csv_of_a_multi_day_span(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.sqlite"
    records = close_days(Ledger(SQLiteStore(ledger_path)), "zz", 2, hours=False)
    env = {"LOOPMETER_CARBON_LEDGER_PATH": str(ledger_path),
           "LOOPMETER_CARBON_PROFILES_PATH": str(SITES)}
    span = ["report", "--site", "zz", "--period", "2026-10-05..2026-10-06"]
    target = tmp_path / "span.pdf"
    result = CliRunner().invoke(carbon_cli, [*span, "--format", "pdf", "--output", str(target)],
                                env=env)
    assert result.exit_code == 0, result.output
    text = pdf_text(target.read_bytes(), tmp_path)
    assert "27.824" in text  # two days of 13.912 t CO2
    assert all(r.hash[:40] in text for r in records if r.period.startswith("2026-10-0"))
    page_one_png(target.read_bytes(), "carbon-report-cli-span", tmp_path)
    table = CliRunner().invoke(carbon_cli, [*span, "--format", "csv"], env=env)
    assert table.exit_code == 0 and table.stdout_bytes.startswith("\ufeff".encode())
    assert "27824.1984" in table.stdout  # exact in the CSV
    wrong = CliRunner().invoke(carbon_cli, [*span, "--format", "pdf"], env={
        **env, "LOOPMETER_CARBON_PDF__CHROMIUM": "no-such-chromium"})
    assert wrong.exit_code == 2 and "not found" in wrong.output
    month = CliRunner().invoke(carbon_cli, ["report", "--site", "zz", "--period", "2026-10",
                                            "--format", "html"], env=env)
    assert month.exit_code == 0 and records[-1].hash in month.stdout
