"""The CLI without servers, the report renderings and the service's HTTP endpoints."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from typer.testing import CliRunner

from adapters.ops_http import OpsServer
from carbon.cli import app
from carbon.engine import Engine
from carbon.ledger import Ledger, MemoryStore, SQLiteStore
from carbon.registry import load_registry
from carbon.report import build_report, enpi_section, render
from tests.carbon.plant import DAY, Plant
from tests.carbon.test_engine import SITE, make_engine


def test_factors_lists_every_row_with_its_status() -> None:
    result = CliRunner().invoke(app, ["factors"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == len(load_registry().factors)
    henan = next(line for line in lines if line.startswith("grid.henan.2023"))
    assert "0.5897 kgCO2/kWh" in henan and "[V-1]" in henan


def test_verify_of_an_empty_ledger(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "ledger.sqlite")  # created by `close`; verify never creates one
    result = CliRunner().invoke(app, ["verify"], env={
        "LOOPMETER_CARBON_LEDGER_PATH": str(tmp_path / "ledger.sqlite")})
    assert (result.exit_code, result.output.startswith("ok: 0 records")) == (0, True)


def test_report_of_an_unclosed_period_says_so(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "ledger.sqlite")
    result = CliRunner().invoke(app, ["report", "--site", "s", "--period", "2026-10"], env={
        "LOOPMETER_CARBON_LEDGER_PATH": str(tmp_path / "ledger.sqlite")})
    assert result.exit_code == 2
    assert "not closed" in result.output


def closed_day() -> tuple[Engine, Ledger]:
    engine, _, ledger = make_engine(Plant.day(SITE), Ledger(MemoryStore()))
    engine.close(SITE, DAY)
    return engine, ledger


def test_report_structure_and_formats() -> None:
    _, ledger = closed_day()
    record = ledger.latest(SITE, DAY.label)
    assert record is not None
    report = build_report(record, load_registry())
    assert set(report) >= {"boundary", "sources", "activity_data", "factors", "emissions_kg",
                           "intensity_kg_per_t", "data_quality", "ledger",
                           "avoided_emissions_kg"}
    assert report["activity_data"]["electricity_kwh"] == {"value": "11520", "unit": "kWh"}
    assert report["emissions_kg"]["scope2_location_based"]["electricity"] == "6793.344"
    assert report["ledger"]["record_hash"] == record.hash
    statuses = {f["id"]: f["status"] for f in report["factors"]}
    assert statuses["grid.henan.2023.mee-2025-47"] == "V-1"
    assert json.loads(render(report, "json")) == report
    csv_text = render(report, "csv")
    assert "emissions_kg.total,13912.0992" in csv_text
    html_text = render(report, "html")
    assert record.hash in html_text and html_text.startswith("<!doctype html>")


@pytest.mark.integration
def test_metrics_and_health_endpoints() -> None:
    health: dict[str, object] = {"ok": True}
    registry = CollectorRegistry()
    Counter("carbon_periods_total", "Periods.", registry=registry).inc()
    server = OpsServer("127.0.0.1", 0, registry, lambda: dict(health))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert "carbon_periods_total 1.0" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/healthz").json() == {"ok": True}
        health["ok"] = False
        assert httpx.get(f"{base}/healthz").status_code == 503
        assert httpx.get(f"{base}/nothing").status_code == 404
    finally:
        server.stop()


def test_enpi_against_a_baseline() -> None:
    # Baseline days (t, kWh): (10, 600), (20, 1100), (30, 1600) -> 100 kWh/day fixed and
    # 50 kWh/t. A 2-day period with 50 t expects 2 x 100 + 50 x 50 = 2700 kWh; 2430 used:
    # index 2430 / 2700 = 0.9; ratio 2430 / 50 = 48.6 kWh/t.
    baseline = [{"input_t": t, "electricity_kwh": e}
                for t, e in (("10", "600"), ("20", "1100"), ("30", "1600"))]
    current = {"input_t": "50", "electricity_kwh": "2430", "sec_kwh_per_t": "48.6"}
    section = enpi_section(current, Decimal(2), baseline, "2026-09", "input")
    assert (section["fixed_kwh_per_day"], section["variable_kwh_per_t"]) == ("100", "50")
    assert (section["expected_kwh"], section["index"], section["r_squared"]) == (
        "2700", "0.9", "1")
    assert enpi_section(current, Decimal(2), baseline[:1], "2026-09", "input")[
        "regression"].startswith("not enough")
