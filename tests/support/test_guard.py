"""The guard fails a test that starts a real server without the `integration` marker."""

from __future__ import annotations

import pytest

CONFTEST = '''
import pytest

pytest_plugins = ["tests.support.guard"]


@pytest.fixture
def services(request):
    with open("started.txt", "a") as started:
        print(request.node.name, file=started)
    yield "mqtt://127.0.0.1:1"


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: starts a real server")
'''

TESTS = '''
import socket
import subprocess
import threading

import pytest


def listen():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()


def test_unmarked_listens():
    listen()


@pytest.mark.integration
def test_marked_listens():
    listen()


def test_unmarked_listens_in_a_thread_that_swallows_errors():
    def serve():
        try:
            listen()
        except OSError:
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()


def test_unmarked_starts_a_broker_program():
    subprocess.Popen(["/usr/sbin/mosquitto", "-p", "1"])


def test_unmarked_runs_a_program_that_is_no_server():
    subprocess.run(["true"], check=True)


def test_unmarked_asks_for_the_live_servers(services):
    pass


@pytest.mark.integration
def test_marked_asks_for_the_live_servers(services):
    pass
'''


def test_unmarked_tests_that_start_servers_fail_and_name_the_marker(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_servers=TESTS)
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    outcomes = {report.nodeid.split("::")[1]: report.outcome
                for report in result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
                if report.when == "call" or report.outcome == "failed"}
    assert outcomes == {
        "test_unmarked_listens": "failed",
        "test_marked_listens": "passed",
        "test_unmarked_listens_in_a_thread_that_swallows_errors": "failed",
        "test_unmarked_starts_a_broker_program": "failed",
        "test_unmarked_runs_a_program_that_is_no_server": "passed",
        "test_unmarked_asks_for_the_live_servers": "failed",
        "test_marked_asks_for_the_live_servers": "passed",
    }
    result.stdout.fnmatch_lines(["*not marked integration*@pytest.mark.integration*"])
    # The unmarked test was stopped before its live-server fixture could start anything.
    started = (pytester.path / "started.txt").read_text().split()
    assert started == ["test_marked_asks_for_the_live_servers"]
