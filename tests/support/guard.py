"""Keeps the `integration` marker true: every test that starts a real server carries it.

A test not marked `integration` fails if it asks for a live-server fixture, opens a
listening socket in this process (uvicorn, a Modbus or HTTP server) or starts a server
program (Mosquitto, InfluxDB, nginx, Chromium). So `pytest -m "not integration"` runs no
server, and a new server test cannot slip in unmarked. Loaded by `tests/conftest.py`.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Generator
from pathlib import PurePath
from typing import Any

import pytest

LIVE_FIXTURES = frozenset({"services", "dynsec_services", "influx_db", "tls_broker",
                           "compose_broker"})
SERVER_PROGRAMS = frozenset({"mosquitto", "influxd", "nginx", "chromium", "uvicorn"})
HINT = "mark it @pytest.mark.integration (or give the module pytestmark)"


class _Unmarked:
    """The running test, while it is not marked `integration`, and the servers it started."""

    item: pytest.Item | None = None
    started: list[str] = []  # noqa: RUF012  (one list per test, replaced in setup)


def _started(what: str) -> None:
    """Refuse a server in an unmarked test; remembered, as a server thread may swallow it."""
    if _Unmarked.item is not None:
        _Unmarked.started.append(what)
        raise OSError(f"{_Unmarked.item.nodeid} starts {what} but is not marked integration: "
                      f"{HINT}")


_listen = socket.socket.listen
_popen_init = subprocess.Popen.__init__


def _guarded_listen(self: socket.socket, *args: Any) -> None:
    _started(f"a server listening on {self.getsockname()}")
    _listen(self, *args)


def _guarded_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any,
                        **options: Any) -> None:
    program = args if isinstance(args, str | bytes | PurePath) else next(iter(args), "")
    name = PurePath(str(program).split()[0] if program else "").name
    if name in SERVER_PROGRAMS:
        _started(f"the server program {name}")
    _popen_init(self, args, *rest, **options)


socket.socket.listen = _guarded_listen  # type: ignore[method-assign,assignment]
subprocess.Popen.__init__ = _guarded_popen_init  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    unmarked = item.get_closest_marker("integration") is None
    _Unmarked.item, _Unmarked.started = (item if unmarked else None), []
    live = sorted(LIVE_FIXTURES & set(getattr(item, "fixturenames", ())))
    if unmarked and live:
        pytest.fail(f"{item.nodeid} uses the live servers ({', '.join(live)}) but is not "
                    f"marked integration: {HINT}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _Unmarked.item is item and _Unmarked.started:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} is not marked integration but starts "
                           f"{'; '.join(dict.fromkeys(_Unmarked.started))}: {HINT}")
        _Unmarked.started = []
    if call.when == "teardown":
        _Unmarked.item = None
