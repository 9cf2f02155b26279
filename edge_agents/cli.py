"""`loopmeter agent check|run`: validate a configuration, run an agent."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from adapters.cli_errors import HandledGroup, debug_enabled
from adapters.clock import SystemClock
from adapters.errors import UNAVAILABLE, LoopmeterError, Unreachable
from adapters.logs import fields, log_json_lines
from edge_agents.agent import Agent
from edge_agents.config import ModbusDriverConfig, build_driver, load
from edge_agents.modbus import ModbusDriver

app = typer.Typer(help="The edge agent: sample a machine, store and forward to MQTT.",
                  no_args_is_help=True, cls=HandledGroup)
log = logging.getLogger("edge_agents.run")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The agent's YAML file.")]


@app.command()
def check(config: ConfigOption) -> None:
    """Validate a configuration and say what the agent would do; exit 2 if it is invalid."""
    settings = load(config)
    if not isinstance(settings.driver, ModbusDriverConfig):
        # A scenario's device is checked by building its plant; a callable by importing it.
        build_driver(settings, SystemClock().now_ms())
    a = settings.agent
    typer.echo(f"OK: {a.device_type.value} {a.device_id.prefix}")
    typer.echo(f"  broker {settings.mqtt.url}, queue in {settings.state_dir}")
    typer.echo(f"  driver {settings.driver.kind}, {len(settings.metrics)} metrics: "
               + ", ".join(f"{m.name} every {m.period_s:g} s" for m in settings.metrics))


@app.command()
def run(
    config: ConfigOption,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Run the agent until SIGTERM or Ctrl-C (or `--duration`).

    Exits 1 if the agent failed, 3 if it never reached the broker (it keeps retrying, with
    backoff, until stopped).

    Logs one JSON line per event on stderr: start, connected, cannot connect, disconnected
    (each with the backlog of unacknowledged samples), replaying / replay done, exit.
    """
    settings = load(config)
    log_json_lines(logging.DEBUG if debug_enabled() else logging.INFO)
    driver = build_driver(settings, SystemClock().now_ms())
    agent = Agent(settings.agent, driver, settings.mqtt, SystemClock(), settings.state_dir)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("start", extra=fields(device=agent.id.prefix, broker=settings.mqtt.url,
                                   driver=settings.driver.kind, backlog=agent.store.depth,
                                   state_dir=str(settings.state_dir)))
    agent.start()
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while agent.failure is None and not done.wait(_until(deadline, 1.0)):
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        backlog = agent.store.depth
        agent.stop()
        if isinstance(driver, ModbusDriver):
            driver.close()
        code = 1 if agent.failure else 0 if agent.stats.connects else UNAVAILABLE
        log.info("exit", extra=fields(
            device=agent.id.prefix, code=code, backlog=backlog, samples=agent.stats.samples,
            acked_samples=agent.stats.acked_samples, failure=agent.failure))
    if agent.failure:
        raise LoopmeterError(f"the agent failed: {agent.failure}", "see the log line before")
    if not agent.stats.connects:
        raise Unreachable(f"the agent never reached the broker at {settings.mqtt.url}; "
                          f"{backlog} samples wait in {settings.state_dir}")


def _until(deadline: float | None, most_s: float) -> float:
    return most_s if deadline is None else max(0.0, min(most_s, deadline - time.monotonic()))
