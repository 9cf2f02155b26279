"""The one error path of every Loopmeter command: a failure becomes one or two lines.

`HandledGroup` is the typer group class of `loopmeter` (and of the sub-apps that also run
alone, `python -m ingest_service`): whatever a command raises is explained by `explain`
(`error: what` and `hint: how to fix it`) and the command exits with the code of
`adapters.errors`. `--debug` or LOOPMETER_DEBUG=1 lets the traceback through instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from typer.core import TyperCommand, TyperGroup

from adapters.errors import (
    EXIT_CODES,
    INTERNAL,
    INTERRUPTED,
    PORT_IN_USE,
    USAGE,
    LoopmeterError,
    is_port_in_use,
)
from adapters.mqtt.settings import parse_broker_url

DEBUG_ENV = "LOOPMETER_DEBUG"
# Chatty at INFO (httpx logs every URL, with the URL-encoded InfluxQL); their warnings stay.
LIBRARY_LOGGERS = ("httpx", "httpcore", "urllib3", "influxdb_client", "paho", "pymodbus",
                   "asyncio", "multipart")
DEBUG_HINT = f"rerun with --debug (or {DEBUG_ENV}=1) to see the traceback"


@dataclass(frozen=True, slots=True)
class Explanation:
    message: str
    hint: str | None
    exit_code: int


def exit_codes_help() -> str:
    """The exit codes, for the epilog of `loopmeter --help`."""
    return "Exit codes: 0 ok; " + "; ".join(f"{code} {text}" for code, text in
                                            EXIT_CODES.items()) + "; 130 interrupted."


def debug_enabled(ctx: typer.Context | None = None) -> bool:
    root = ctx.find_root() if ctx is not None else None
    if root is not None and root.params.get("debug"):
        return True
    return os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes", "on")


# pymodbus logs at ERROR what its caller raises anyway (a port it cannot bind): said twice.
SILENT_LOGGERS = ("pymodbus",)


def quiet_libraries(debug: bool) -> None:
    for name in LIBRARY_LOGGERS:
        quiet = logging.CRITICAL if name in SILENT_LOGGERS else logging.WARNING
        logging.getLogger(name).setLevel(logging.DEBUG if debug else quiet)


def explain(error: BaseException) -> Explanation:
    """What to tell the user about `error`: Loopmeter's own errors, then third-party ones."""
    if isinstance(error, LoopmeterError):
        return Explanation(str(error), error.hint, error.exit_code)
    if isinstance(error, ValidationError):
        return _invalid_values(error)
    if isinstance(error, yaml.YAMLError):
        return Explanation(f"invalid YAML: {_one_line(str(error))}",
                           "fix the file's syntax", USAGE)
    if isinstance(error, OSError):
        return _os_error(error)
    return Explanation(f"internal error: {type(error).__name__}: {_one_line(str(error))}",
                       f"this is a bug; {DEBUG_HINT} and report it", INTERNAL)


def _os_error(error: OSError) -> Explanation:
    if is_port_in_use(error):
        return Explanation(f"a port is already in use: {error.strerror}",
                           "stop what listens there, or choose another port", PORT_IN_USE)
    if error.filename is not None:
        return Explanation(f"cannot use {error.filename}: {error.strerror}",
                           "check the path and its permissions", USAGE)
    return Explanation(f"{error.strerror or error}", DEBUG_HINT, 1)


def _invalid_values(error: ValidationError) -> Explanation:
    """Name the environment variable of a settings model, the field of any other model."""
    settings = _settings_class(error.title)
    problems = []
    for item in error.errors(include_url=False):
        where = _env_name(settings, item["loc"]) if settings else _field(item["loc"])
        shown = f"={item['input']!r}" if settings and _showable(where, item.get("input")) else ""
        problems.append(f"{where}{shown}: {item['msg']}")
    if settings is not None:
        return Explanation(f"invalid setting {'; '.join(problems)}",
                           "fix or unset the environment variable (docs/cli.md says "
                           "where each service's settings are listed)", USAGE)
    return Explanation(f"invalid {error.title}: {'; '.join(problems)}",
                       "fix the value named", USAGE)


def _showable(name: str, value: object) -> bool:
    """A bad value is echoed if it is one plain value and not a secret."""
    secret = any(word in name.lower() for word in ("password", "token", "secret", "key"))
    return isinstance(value, str | int | float) and not secret


def _settings_class(name: str) -> type[BaseSettings] | None:
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name and cls is not BaseSettings:
            return cls
        pending += cls.__subclasses__()
    return None


def _env_name(settings: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    prefix = str(settings.model_config.get("env_prefix") or "")
    delimiter = str(settings.model_config.get("env_nested_delimiter") or "__")
    return (prefix + delimiter.join(str(part) for part in loc)).upper()


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "value"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report(explanation: Explanation) -> None:
    typer.echo(typer.style("error: ", fg="red", bold=True) + explanation.message, err=True)
    if explanation.hint:
        typer.echo(typer.style("hint: ", fg="cyan", bold=True) + explanation.hint, err=True)


def handled(ctx: typer.Context, invoke: Callable[[], Any]) -> Any:
    """`invoke()`, its failures reported as `error:`/`hint:` lines and an exit code."""
    quiet_libraries(debug_enabled(ctx))
    try:
        return invoke()
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise
    except KeyboardInterrupt:
        if debug_enabled(ctx):
            raise
        typer.echo("interrupted", err=True)
        raise typer.Exit(INTERRUPTED) from None
    except Exception as error:
        if debug_enabled(ctx):
            raise
        explanation = explain(error)
        report(explanation)
        raise typer.Exit(explanation.exit_code) from None


# typer exports its Context subclass only, not the vendored click base that invoke takes.
class HandledGroup(TyperGroup):
    """A typer group whose commands' failures end as `error:`/`hint:` lines and an exit code."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        return handled(ctx, lambda: super(HandledGroup, self).invoke(ctx))


class HandledCommand(TyperCommand):
    """The same for an app of one command (`python -m edge_agents.conformance`)."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        return handled(ctx, lambda: super(HandledCommand, self).invoke(ctx))


def broker_url(value: str | None) -> str | None:
    """A typer callback for a --broker option: a URL that is not a broker's is a usage error
    that names the option."""
    if value is not None:
        try:
            parse_broker_url(value)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
    return value
