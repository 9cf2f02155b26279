"""`loopmeter sim`: list, truth offline, and run through a real broker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.clock import SystemClock
from contract import BirthMessage, DataMessage, decode
from loopmeter.services import LocalServices
from simulators import Plant, load_scenario
from simulators.cli import app
from simulators.faults import GARBAGE
from simulators.runs import unapplied_by_fleet
from tests.support.live import Received, recording, wait_for

runner = CliRunner()


def test_list_shows_every_shipped_scenario() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for name in ("construction-waste", "secondary-aluminium", "battery-recycling",
                 "industrial-park"):
        assert name in result.output


def test_truth_writes_ground_truth_offline(tmp_path: Path) -> None:
    output = tmp_path / "truth.jsonl"
    result = runner.invoke(app, ["truth", "--scenario", "secondary-aluminium", "--output",
                                 str(output), "--duration", "3h", "--site", "other-site"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in output.read_text().splitlines()]
    intervals = [r for r in records if r["record"] == "interval"]
    assert len(intervals) == 12 * 5
    assert {r["site"] for r in intervals} == {"other-site"}


def test_an_unknown_scenario_is_an_error() -> None:
    result = runner.invoke(app, ["truth", "--scenario", "nowhere", "--output", "x.csv"])
    assert result.exit_code != 0


def test_run_reports_an_unreachable_broker() -> None:
    result = runner.invoke(app, ["run", "--scenario", "construction-waste", "--duration", "1m",
                                 "--broker", "mqtt://127.0.0.1:9", "--direct"])
    assert result.exit_code == 3
    assert "cannot connect" in result.output


def _run_recorded(services: LocalServices, site: str, topics: str,
                  options: list[str]) -> list[Received]:
    """Run the construction-waste plant in 10-minute batches; what `topics` received, once
    as many messages as the run says the broker acknowledged are in."""
    with recording(services.mqtt_url, f"loopmeter/v1/{site}/{topics}") as subscriber:
        result = runner.invoke(app, ["run", "--scenario", "construction-waste", "--broker",
                                     services.mqtt_url, "--site", site, "--batch", "10m",
                                     *options])
        assert result.exit_code == 0, result.output
        delivered = re.search(r"(\d+) messages delivered", result.output)
        assert delivered, result.output
        wait_for(lambda: len(subscriber.snapshot()) >= int(delivered[1]), 10,
                 f"{delivered[1]} messages at the subscriber")
    return subscriber.snapshot()


@pytest.mark.integration
def test_a_direct_run_publishes_a_plant_with_its_faults(
    services: LocalServices, unique_site: str, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.csv"
    received = _run_recorded(services, unique_site, "#", [
        "--speed", "100000", "--duration", "10h", "--ground-truth", str(truth), "--direct"])
    decoded = [decode(m.topic, m.payload, now_ms=2**41).message for m in received
               if m.payload not in GARBAGE]
    assert sum(isinstance(m, BirthMessage) for m in decoded) == 5
    data = [m for m in decoded if isinstance(m, DataMessage)]
    # 5 devices x 60 ten-minute batches, less the 20-minute drop window of one device (2 batches)
    assert len(data) == 5 * 60 - 2
    assert len(truth.read_text().splitlines()) == 1 + 40 * 5


@pytest.mark.integration
def test_modbus_serves_a_meter_for_the_run() -> None:
    result = runner.invoke(app, ["modbus", "--scenario", "construction-waste", "--device",
                                 "fixed/main-meter", "--port", "0", "--speed", "3600",
                                 "--duration", "2m"])
    assert result.exit_code == 0, result.output
    assert "serving zhengzhou-cw meter registers on port" in result.output


@pytest.mark.parametrize(("device", "error"), [
    ("fixed/crusher-1", "not an electricity meter"), ("fixed/none", "no device")])
def test_modbus_only_serves_electricity_meters(device: str, error: str) -> None:
    result = runner.invoke(app, ["modbus", "--scenario", "construction-waste", "--device",
                                 device, "--port", "0"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert error in result.output


@pytest.mark.integration
def test_a_run_through_the_agent_fleet_reaches_the_broker(
    services: LocalServices, unique_site: str, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.jsonl"
    samples: dict[str, int] = {}
    for received in _run_recorded(services, unique_site, "+/+/data", [
            "--speed", "2880", "--duration", "2h", "--ground-truth", str(truth),
            "--state-dir", str(tmp_path / "queues"), "--no-confirm"]):  # no ingest runs
        message = decode(received.topic, received.payload, now_ms=2**41).message
        assert isinstance(message, DataMessage)
        samples[received.topic] = samples.get(received.topic, 0) + len(message.samples)
    assert len(samples) == 5
    assert all(count >= 600 for count in samples.values())  # 2 h every 10 s, about 720
    records = [json.loads(line) for line in truth.read_text().splitlines()]
    assert sum(r["record"] == "interval" for r in records) == 8 * 5


def test_runs_through_agents_name_the_link_faults_they_leave_out() -> None:
    park = Plant.from_scenario(load_scenario("industrial-park"))
    assert unapplied_by_fleet(park) == ["duplicate", "malformed_burst", "reorder"]
    assert unapplied_by_fleet(Plant.from_scenario(load_scenario("construction-waste"))) == []


@pytest.mark.integration
def test_a_run_that_ends_now_leaves_no_birth_dated_in_the_future(
    services: LocalServices, unique_site: str, tmp_path: Path
) -> None:
    # No ingest confirms, so the fleet drains (reconnecting, re-sending) after the end.
    with recording(services.mqtt_url, f"loopmeter/v1/{unique_site}/+/+/birth") as births:
        result = runner.invoke(app, ["run", "--scenario", "construction-waste", "--broker",
                                     services.mqtt_url, "--site", unique_site, "--start",
                                     "ago", "--duration", "1h", "--speed", "3600",
                                     "--state-dir", str(tmp_path)])
        finished_ms = SystemClock().now_ms()
        assert result.exit_code == 1
        assert "ingest did not confirm" in result.output and "--no-confirm" in result.output
        wait_for(lambda: len(births.snapshot()) >= 5, 10, "a birth per device")
    stamps = [json.loads(m.payload)["ts"] for m in births.snapshot()]
    assert stamps and max(stamps) <= finished_ms
