"""The ledger as evidence: each forgery of issue 15, changes after close, operator slips."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbon.canonical import canonical
from carbon.cli import Refused, _check_ended, _check_known, app
from carbon.closing import Accounting, code_version
from carbon.engine import Engine
from carbon.ledger import GENESIS, Checkpoint, Ledger, SQLiteStore, digest_text
from carbon.periods import parse_period
from carbon.registry import Factor, Registry, load_registry
from carbon.settings import CarbonSettings
from carbon.signing import SiteKeys
from tests.carbon.plant import DAY, HORIZON, TZ, FakeSink, FakeSource, Plant
from tests.support.clock import FakeClock

SITE = "site-t"
HOUR = 3_600_000


def engine(ledger: Ledger, keys: SiteKeys | None, registry: Registry | None = None,
           settings: CarbonSettings | None = None) -> Engine:
    settings = settings or CarbonSettings()
    accounting = Accounting(settings.params(), "henan", "equivalent", "input",
                            settings.config_hash(), code_version())
    return Engine(FakeSource(Plant.day(SITE)), FakeSink(), ledger, registry or load_registry(),
                  accounting, TZ, HORIZON, FakeClock(DAY.end_ms + HOUR), keys)


def signed_ledger(tmp_path: Path) -> tuple[Ledger, SiteKeys, Path]:
    keys = SiteKeys(tmp_path / "keys")
    keys.create(SITE)
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(SQLiteStore(path))
    close = engine(ledger, keys)
    for hour in range(3):
        close.close(SITE, parse_period(f"2026-10-05T{hour:02d}", TZ))
    return ledger, keys, path


def test_closed_records_are_signed_and_verify(tmp_path: Path) -> None:
    ledger, keys, _ = signed_ledger(tmp_path)
    result = ledger.verify(keys.public)
    assert result.ok and result.signature_counts() == {"valid": 3, "invalid": 0, "unsigned": 0}


def test_a_forger_who_rehashes_and_relinks_the_chain_is_caught(tmp_path: Path) -> None:
    ledger, keys, path = signed_ledger(tmp_path)
    records = list(ledger.records())
    previous = GENESIS
    with sqlite3.connect(path) as connection:
        for record in records:  # lower the first hour's CO2, re-hash and re-link everything
            body = record.data()
            body["previous"] = previous
            if record.seq == 1:
                body["results"]["rows"][-1]["values"]["co2_total_kg"] = "1"
            text = canonical(body)
            previous = digest_text(text)
            connection.execute("UPDATE ledger SET body = ?, hash = ? WHERE seq = ?",
                               (text, previous, record.seq))
    assert ledger.verify().ok  # self-consistent again: the old check is fooled
    broken = ledger.verify(keys.public).broken
    assert broken is not None and broken.seq == 1 and "signature" in broken.reason


def test_a_forged_recalculation_appended_without_the_key_is_caught(tmp_path: Path) -> None:
    ledger, keys, _ = signed_ledger(tmp_path)
    head = ledger.head()
    assert head is not None
    forged = ledger.append(site=SITE, period=head.data()["period"], kind="recalculation",
                           content={"results": {"rows": []}}, recorded_ms=1,
                           supersedes=head.hash)
    broken = ledger.verify(keys.public).broken
    assert broken is not None and broken.seq == forged.seq and "unsigned" in broken.reason


def test_deleting_the_newest_records_is_caught_by_a_checkpoint(tmp_path: Path) -> None:
    ledger, keys, path = signed_ledger(tmp_path)
    result = ledger.verify()
    checkpoint = Checkpoint(result.records, result.head)
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM ledger WHERE seq >= 2")
    assert ledger.verify(keys.public).ok  # what is left is a valid, signed chain
    broken = ledger.verify(keys.public, checkpoint).broken
    assert broken is not None and "truncated" in broken.reason


def test_rewriting_the_checkpointed_head_is_caught(tmp_path: Path) -> None:
    ledger, _, path = signed_ledger(tmp_path)
    result = ledger.verify()
    head = ledger.head()
    assert head is not None
    body = canonical({**head.data(), "recorded_ms": 0})
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE ledger SET body = ?, hash = ? WHERE seq = ?",
                           (body, digest_text(body), head.seq))
    assert ledger.verify().ok  # the newest record has no successor to break
    broken = ledger.verify(None, Checkpoint(result.records, result.head)).broken
    assert broken is not None and "rewritten" in broken.reason


def test_a_factor_change_after_close_is_an_explicit_recalculation(tmp_path: Path) -> None:
    ledger = Ledger(SQLiteStore(tmp_path / "ledger.sqlite"))
    engine(ledger, None).close(SITE, DAY)
    registry = load_registry()
    edited = [f if not f.id.startswith("grid.henan.2023") else
              Factor.model_validate({**f.model_dump(), "value": "0.6"})
              for f in registry.factors]
    again = engine(ledger, None, Registry(edited)).close(SITE, DAY)
    assert again.outcome == "recalculated"
    recalculation = again.record.data()["recalculation"]
    assert recalculation["changes"] == [{"what": "factor", "id": "grid.henan.2023.mee-2025-47",
                                         "old": "0.5897", "new": "0.6"}]
    assert "0.5897 -> 0.6" in recalculation["reason"]
    recomputed = engine(ledger, None, Registry(edited)).recompute(SITE, DAY)
    assert recomputed.identical and recomputed.changes == ()


def test_a_config_change_after_close_names_the_parameter(tmp_path: Path) -> None:
    ledger = Ledger(SQLiteStore(tmp_path / "ledger.sqlite"))
    engine(ledger, None).close(SITE, DAY)
    stricter = CarbonSettings(min_coverage="0.99")
    recomputed = engine(ledger, None, settings=stricter).recompute(SITE, DAY)
    assert {c["id"] for c in recomputed.changes} == {"params.min_coverage"}
    again = engine(ledger, None, settings=stricter).close(SITE, DAY)
    assert again.outcome == "recalculated"
    assert "params.min_coverage: 0.95 -> 0.99" in again.record.data()["recalculation"]["reason"]
    assert engine(ledger, None, settings=stricter).close(SITE, DAY).outcome == "unchanged"


def test_unknown_site_and_open_period_are_refused() -> None:
    settings = CarbonSettings()
    with pytest.raises(Refused, match="unknown site"):
        _check_known("nosuch-site", ["site-a"])
    _check_known("site-a", ["site-a"])
    with pytest.raises(Refused, match="still open"):
        _check_ended([DAY], settings, DAY.end_ms)
    _check_ended([DAY], settings, DAY.end_ms + HOUR)


def test_a_future_period_is_refused_before_influxdb_or_the_ledger_is_touched(
        tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    result = CliRunner().invoke(app, ["close", "--site", "s", "--period", "2099-01-01"], env={
        "LOOPMETER_CARBON_INFLUX__URL": "http://127.0.0.1:9", "LOOPMETER_CARBON_LEDGER_PATH":
        str(ledger)})
    assert result.exit_code == 1
    assert "2099-01-01 is still open" in result.output and not ledger.exists()


def test_verify_of_a_missing_ledger_fails_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "ledger.sqlite"
    result = CliRunner().invoke(app, ["verify"], env={
        "LOOPMETER_CARBON_LEDGER_PATH": str(missing)})
    assert result.exit_code != 0 and "no ledger" in result.output
    assert not missing.exists() and not missing.parent.exists()


def test_an_unreadable_registry_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "factors.yaml"
    bad.write_text("registry_version: [", encoding="utf-8")
    result = CliRunner().invoke(app, ["factors"], env={
        "LOOPMETER_CARBON_FACTORS_PATH": str(bad)})
    assert result.exit_code != 0 and "factor registry" in result.output
    assert "Traceback" not in result.output


def test_cli_keys_checkpoint_and_report_refusal(tmp_path: Path) -> None:
    env = {"LOOPMETER_CARBON_LEDGER_PATH": str(tmp_path / "ledger.sqlite"),
           "LOOPMETER_CARBON_KEYS_DIR": str(tmp_path / "keys")}
    runner = CliRunner()
    assert runner.invoke(app, ["key", "create", "--site", SITE], env=env).exit_code == 0
    exported = runner.invoke(app, ["key", "export", "--site", SITE], env=env)
    assert exported.output.startswith("-----BEGIN PUBLIC KEY-----")
    assert runner.invoke(app, ["key", "create", "--site", SITE], env=env).exit_code != 0
    ledger = Ledger(SQLiteStore(tmp_path / "ledger.sqlite"))
    engine(ledger, SiteKeys(tmp_path / "keys")).close(SITE, DAY)
    mark = tmp_path / "checkpoint.json"
    assert runner.invoke(app, ["checkpoint", "export", "--output", str(mark)],
                         env=env).exit_code == 0
    assert json.loads(mark.read_text())["seq"] == 1
    (tmp_path / "regulator.pub").write_text(exported.output)
    verified = runner.invoke(app, ["verify", "--checkpoint", str(mark), "--public-key",
                                   str(tmp_path / "regulator.pub"), "--site", SITE], env=env)
    assert verified.exit_code == 0 and "1 valid" in verified.output
    ok = runner.invoke(app, ["report", "--site", SITE, "--period", DAY.label], env=env)
    assert ok.exit_code == 0 and json.loads(ok.output)["verification"]["signature"] == "valid"
    with sqlite3.connect(tmp_path / "ledger.sqlite") as connection:
        connection.execute("UPDATE signatures SET signature = 'AAAA'")
    refused = runner.invoke(app, ["report", "--site", SITE, "--period", DAY.label], env=env)
    assert refused.exit_code != 0 and "refusing" in refused.output
    broken = runner.invoke(app, ["verify", "--checkpoint", str(mark)], env=env)
    assert broken.exit_code == 1 and "signature invalid" in broken.output


def test_reports_show_the_signature_state_with_the_sites_keys(tmp_path: Path) -> None:
    # What the gateway passes on (`CarbonReports(..., SiteKeys(keys_dir))`).
    from adapters.pdf import PdfSettings
    from carbon.document import Reports
    ledger, keys, path = signed_ledger(tmp_path)
    hour = parse_period("2026-10-05T01", TZ)
    reports = Reports(ledger, load_registry(), TZ, tmp_path, PdfSettings(), keys.public)
    assert reports.content(SITE, hour)["verification"]["signature"] == "valid"
    unkeyed = Reports(ledger, load_registry(), TZ, tmp_path, PdfSettings())
    assert unkeyed.content(SITE, hour)["verification"]["signature"] == "unsigned"
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE signatures SET signature = 'AAAA' WHERE seq = 2")
    assert reports.content(SITE, hour)["verification"]["signature"] == "invalid"
