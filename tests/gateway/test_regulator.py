"""The regulator's view over HTTP, driven by a simulated province of 24 plants.

The simulators write the operators' profile files; the real carbon engine closes the
synthetic plant's day for 20 of them; four have not reported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from carbon.ledger import MemoryStore
from gateway.core.security import Role
from simulators.province import province, write_profiles
from tests.gateway.carbon_day import LABEL, TOTAL_KG, close_day
from tests.gateway.conftest import Harness, harness

REPORTED = 20


@pytest.fixture
def province_gw(tmp_path: Path) -> Iterator[tuple[Harness, list[str]]]:
    profiles = province()
    write_profiles(profiles, tmp_path / "sites")
    with harness(tmp_path, tmp_path / "sites") as gw:
        sites = sorted(p.site for p in profiles)
        for site in sites[:REPORTED]:
            close_day(gw.ledger, site)
        yield gw, sites


def test_site_list_shows_each_plants_standing(province_gw: tuple[Harness, list[str]]) -> None:
    gw, sites = province_gw
    rows = gw.client.get("/v1/regulator/sites", headers=gw.auth(Role.AUDITOR)).json()
    assert [r["site"] for r in rows] == sites
    by_site = {r["site"]: r for r in rows}
    reported, silent = by_site[sites[0]], by_site[sites[-1]]
    assert (reported["latest_closed"], reported["coverage"], reported["chain"]) == (
        LABEL, "1", "ok")
    assert reported["domain"] in {"construction_waste", "recycled_metals", "waste_batteries",
                                  "waste_appliances"}
    assert (silent["latest_closed"], silent["verdict"]) == (None, "not available")
    table = gw.client.get("/v1/regulator/sites", params={"format": "csv"},
                          headers=gw.auth(Role.AUDITOR))
    assert table.content.startswith("\ufeff".encode())
    assert len(list(csv.reader(io.StringIO(table.text.lstrip("\ufeff"))))) == len(sites) + 1


def test_rollup_by_domain_and_city_names_the_missing(
        province_gw: tuple[Harness, list[str]]) -> None:
    gw, sites = province_gw
    result = gw.client.get(f"/v1/regulator/rollup/{LABEL}", headers=gw.auth(Role.AUDITOR))
    assert result.status_code == 200, result.text
    body = result.json()
    assert sorted(s for row in body["rows"] for s in row["sites"]) == sites[:REPORTED]
    total = sum(Decimal(row["totals"]["co2_total_kg"]) for row in body["rows"])
    assert total == REPORTED * Decimal(TOTAL_KG)
    assert len(body["by_domain"]) >= 4 and len(body["by_city"]) >= 3
    assert {e["site"]: e["reason"] for e in body["excluded"]} == dict.fromkeys(
        sites[REPORTED:], f"missing: {LABEL} not closed")
    table = gw.client.get(f"/v1/regulator/rollup/{LABEL}", params={"format": "csv"},
                          headers=gw.auth(Role.AUDITOR))
    rows = list(csv.DictReader(io.StringIO(table.text.lstrip("\ufeff"))))
    assert len(rows) == len(body["rows"]) + len(sites) - REPORTED
    assert table.headers["content-disposition"] == f'attachment; filename="rollup-{LABEL}.csv"'


def test_a_broken_chain_shows_on_every_site(province_gw: tuple[Harness, list[str]]) -> None:
    gw, _ = province_gw
    store = gw.ledger._store  # the test plays the attacker with direct access to the store
    assert isinstance(store, MemoryStore)
    store.rows[0] = replace(store.rows[0], body=store.rows[0].body.replace("11520", "9520"))
    rows = gw.client.get("/v1/regulator/sites", headers=gw.auth(Role.ADMIN)).json()
    assert {r["chain"] for r in rows} == {"broken"}


def test_operators_may_not_see_the_province(province_gw: tuple[Harness, list[str]]) -> None:
    gw, _ = province_gw
    assert gw.client.get("/v1/regulator/sites", headers=gw.auth(Role.OPERATOR)
                         ).status_code == 403


def test_a_bad_profile_file_is_a_503_naming_it(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "bad.yaml").write_text("site: bad\nuscc: 1\n", encoding="utf-8")
    with harness(tmp_path, tmp_path / "sites") as gw:
        response = gw.client.get(f"/v1/regulator/rollup/{LABEL}", headers=gw.auth(Role.AUDITOR))
    assert response.status_code == 503 and "bad.yaml" in response.json()["detail"]
