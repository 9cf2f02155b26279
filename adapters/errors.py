"""The failures a user can cause and fix, each with its exit code and a hint.

Every layer raises (or subclasses) these for what the person at the keyboard can put right:
a bad value, a service that is not running, a refused login, a taken port. The `loopmeter`
command prints them as one or two lines (`adapters.cli_errors`), never as a traceback.
Exit codes, as `loopmeter --help` and docs/cli.md list them:
"""

from __future__ import annotations

import errno

FAILED = 1  # the command ran and found a problem (a check failed, something is down)
USAGE = 2  # a bad option, environment variable, file or name (click uses 2 for options too)
UNAVAILABLE = 3  # a service it needs cannot be reached
REFUSED = 4  # a login was refused
PORT_IN_USE = 5  # a port it must listen on is taken
INTERNAL = 70  # a bug (EX_SOFTWARE): rerun with --debug and report the traceback
INTERRUPTED = 130  # Ctrl-C

EXIT_CODES = {
    FAILED: "the command ran and found a problem (a check failed, a service is down)",
    USAGE: "bad option, environment variable, file or name",
    UNAVAILABLE: "a service it needs (broker, InfluxDB, Grafana) cannot be reached",
    REFUSED: "a login was refused",
    PORT_IN_USE: "a port it must listen on is in use",
    INTERNAL: "a bug: rerun with --debug and report the traceback",
}


class LoopmeterError(Exception):
    """What went wrong (the message) and how to put it right (`hint`)."""

    exit_code = FAILED
    default_hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint if hint is not None else self.default_hint


class InvalidInput(LoopmeterError):
    """A bad option, environment variable, file or name."""

    exit_code = USAGE


class Unreachable(LoopmeterError):
    """A service that the command needs does not answer."""

    exit_code = UNAVAILABLE
    default_hint = ("is it running? `loopmeter services up` starts the local broker and "
                    "InfluxDB; the URLs come from the settings (docs/cli.md)")


class LoginRefused(LoopmeterError):
    exit_code = REFUSED
    default_hint = "check the username and password (options or environment variables)"


class PortInUse(LoopmeterError):
    exit_code = PORT_IN_USE

    def __init__(self, port: int, setting: str) -> None:
        super().__init__(f"port {port} is already in use",
                         f"stop what listens there, or choose another port with {setting}")
        self.port = port
        self.setting = setting


def is_port_in_use(error: OSError) -> bool:
    return error.errno == errno.EADDRINUSE
