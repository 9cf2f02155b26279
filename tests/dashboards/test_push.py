"""`dashboards push`: the pure push against an in-memory store, and the grafana-client adapter
and CLI against a fake Grafana HTTP server (Grafana itself cannot be installed here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from dashboards import dashboards, to_dict
from dashboards.cli import app
from dashboards.push import GrafanaStore, PushError, push
from loopmeter.services import free_ports
from tests.dashboards.fake_grafana import GrafanaState, serve

TOKEN = "glsa_test-token"


class MemoryStore:
    def __init__(self) -> None:
        self.folders: dict[str, str] = {}
        self.saved: dict[str, tuple[dict[str, Any], str]] = {}

    def find_folder(self, title: str) -> str | None:
        return next((uid for uid, t in self.folders.items() if t == title), None)

    def create_folder(self, title: str) -> str:
        uid = f"f{len(self.folders)}"
        self.folders[uid] = title
        return uid

    def save_dashboard(self, dashboard: dict[str, Any], folder_uid: str) -> None:
        self.saved[dashboard["uid"]] = (dashboard, folder_uid)


def _dashboards() -> list[dict[str, Any]]:
    return [to_dict(board) for board in dashboards()]


def test_push_creates_the_folder_once_and_saves_every_dashboard_by_uid() -> None:
    store = MemoryStore()
    first = push(store, _dashboards(), "Loopmeter")
    second = push(store, _dashboards(), "Loopmeter")
    assert first.created_folder and not second.created_folder
    assert first.folder_uid == second.folder_uid
    assert store.folders == {first.folder_uid: "Loopmeter"}
    assert set(store.saved) == set(first.dashboards) == {d["uid"] for d in _dashboards()}
    assert all(folder == first.folder_uid and d["id"] is None for d, folder in store.saved.values())


@pytest.fixture
def grafana() -> Iterator[tuple[str, GrafanaState]]:
    state = GrafanaState(TOKEN)
    with serve(state) as url:
        yield url, state


@pytest.mark.integration
def test_grafana_store_pushes_idempotently_over_http(grafana: tuple[str, GrafanaState]) -> None:
    url, state = grafana
    with GrafanaStore(url, SecretStr(TOKEN)) as store:
        for _ in range(2):
            result = push(store, _dashboards(), "Loopmeter")
    assert list(state.folders.values()) == ["Loopmeter"]
    assert state.requests.count("POST /api/folders") == 1
    assert set(state.dashboards) == set(result.dashboards)
    saved = state.dashboards["loopmeter-plant-overview"]
    assert saved["overwrite"] is True and saved["folderUid"] == result.folder_uid
    assert saved["dashboard"]["panels"] == _dashboards()[0]["panels"]


@pytest.mark.integration
def test_grafana_errors_become_push_errors(grafana: tuple[str, GrafanaState]) -> None:
    url, _ = grafana
    with GrafanaStore(url, SecretStr("wrong")) as store, pytest.raises(PushError, match="401"):
        store.find_folder("Loopmeter")


def test_unreachable_grafana_is_a_push_error() -> None:
    url = f"http://127.0.0.1:{free_ports(1)[0]}"
    with GrafanaStore(url, SecretStr(TOKEN), timeout_s=2) as store, pytest.raises(PushError):
        store.find_folder("Loopmeter")


@pytest.mark.integration
def test_cli_push_reports_the_folder_and_fails_cleanly(grafana: tuple[str, GrafanaState]) -> None:
    url, state = grafana
    runner = CliRunner()
    ok = runner.invoke(app, ["push", "--url", url, "--token", TOKEN, "--folder", "Plants"])
    assert ok.exit_code == 0, ok.output
    assert "Pushed 5 dashboards to folder 'Plants' (created)" in ok.output
    assert list(state.folders.values()) == ["Plants"]
    refused = runner.invoke(app, ["push", "--url", url, "--token", "wrong"])
    assert refused.exit_code == 4  # a login refused (docs/cli.md)
    assert refused.output.startswith("error: Grafana refused the token (401)")
    assert "Traceback" not in refused.output
