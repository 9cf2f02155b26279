"""Carbon reports and the audit ledger over HTTP, from a day the real engine closed."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import replace
from decimal import Decimal

import pytest

from carbon.ledger import MemoryStore
from gateway.core.security import Role
from tests.gateway.carbon_day import LABEL, SCOPE1_KG, SCOPE2_KG, TOTAL_KG, close_day, close_days
from tests.gateway.conftest import Harness

URL = f"/v1/reports/carbon/zz/{LABEL}"


def test_json_report_holds_the_engine_figures(gw: Harness) -> None:
    record = close_day(gw.ledger, "zz")
    response = gw.client.get(URL, headers=gw.auth(Role.AUDITOR))
    assert response.status_code == 200
    report = response.json()
    emissions = report["emissions_kg"]
    assert Decimal(emissions["scope1"]["total"]) == Decimal(SCOPE1_KG)
    assert Decimal(emissions["scope2_location_based"]["total"]) == Decimal(SCOPE2_KG)
    assert Decimal(emissions["total"]) == Decimal(TOTAL_KG)
    assert report["ledger"]["record_hash"] == record.hash


def test_csv_and_html_reports(gw: Harness) -> None:
    close_day(gw.ledger, "zz")
    text = gw.client.get(URL, params={"format": "csv"}, headers=gw.auth(Role.OPERATOR))
    assert text.headers["content-type"] == "text/csv; charset=utf-8"
    assert text.content.startswith("\ufeff".encode())
    rows = {(r[1], r[2]): r[3] for r in csv.reader(io.StringIO(text.text.lstrip("\ufeff")))}
    assert Decimal(rows["site", "排放总量（范围一+二） / Total (Scope 1 + 2)"]) == Decimal(TOTAL_KG)
    page = gw.client.get(URL, params={"format": "html"}, headers=gw.auth(Role.ADMIN))
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "zz 2026-10-05" in page.text
    assert "郑州绿环再生资源有限公司" in page.text  # the reporting entity, from tests/gateway/sites


def test_unclosed_and_malformed_periods(gw: Harness) -> None:
    missing = gw.client.get(URL, headers=gw.auth(Role.AUDITOR))
    assert missing.status_code == 404 and "not closed" in missing.json()["detail"]
    bad = gw.client.get("/v1/reports/carbon/zz/2026-13", headers=gw.auth(Role.AUDITOR))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    shape = gw.client.get("/v1/reports/carbon/zz/yesterday", headers=gw.auth(Role.AUDITOR))
    assert shape.status_code == 422


def test_ledger_records_page_and_carry_their_bodies(gw: Harness) -> None:
    first = close_day(gw.ledger, "zz")
    second = close_day(gw.ledger, "yy")
    auditor = gw.auth(Role.AUDITOR)
    listed = gw.client.get("/v1/ledger/records", headers=auditor).json()
    assert [(r["seq"], r["site"], r["kind"]) for r in listed] == [(1, "zz", "close"),
                                                                  (2, "yy", "close")]
    assert listed[1]["previous"] == first.hash
    page = gw.client.get("/v1/ledger/records", params={"after_seq": 1}, headers=auditor).json()
    assert [r["hash"] for r in page] == [second.hash]
    only = gw.client.get("/v1/ledger/records", params={"site": "zz", "period": LABEL},
                         headers=auditor).json()
    assert [r["seq"] for r in only] == [1]
    full = gw.client.get("/v1/ledger/records/2", headers=auditor).json()
    digest = "sha256:" + hashlib.sha256(full["canonical_body"].encode()).hexdigest()
    assert digest == full["hash"] == second.hash
    assert gw.client.get("/v1/ledger/records/3", headers=auditor).status_code == 404


def test_verification_finds_a_tampered_record(gw: Harness) -> None:
    close_day(gw.ledger, "zz")
    close_day(gw.ledger, "yy")
    auditor = gw.auth(Role.AUDITOR)
    assert gw.client.get("/v1/ledger/verify", headers=auditor).json()["ok"] is True
    store = gw.ledger._store  # the test plays the attacker with direct access to the store
    assert isinstance(store, MemoryStore)
    store.rows[0] = replace(store.rows[0], body=store.rows[0].body.replace("11520", "9520"))
    result = gw.client.get("/v1/ledger/verify", headers=auditor).json()
    assert result["ok"] is False
    assert result["broken"] == {"seq": 1, "reason": "body does not match its hash "
                                                    "(the record was altered)"}


@pytest.mark.parametrize("period", [LABEL, "2026-10", "2026-10-05..2026-10-07", "2026"])
def test_every_format_of_a_day_a_month_and_spans(gw: Harness, period: str) -> None:
    close_days(gw.ledger, "zz", 3, hours=False)
    url = f"/v1/reports/carbon/zz/{period}"
    auditor = gw.auth(Role.AUDITOR)
    report = gw.client.get(url, headers=auditor).json()
    total = report["emissions_kg"]["total"]
    assert report["period"]["label"] == period
    table = gw.client.get(url, params={"format": "csv"}, headers=auditor)
    assert table.content.startswith("\ufeff".encode())
    rows = {(r[1], r[2]): r[3] for r in csv.reader(io.StringIO(table.text.lstrip("\ufeff")))}
    assert Decimal(rows["site", "排放总量（范围一+二） / Total (Scope 1 + 2)"]) == Decimal(total)
    page = gw.client.get(url, params={"format": "html"}, headers=auditor)
    assert page.status_code == 200 and f"zz · {period}" in page.text
    assert f"{Decimal(total) / 1000:,.3f}" in page.text
