"""`loopmeter agent check|run`: validate a configuration, run an agent."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from adapters.cli_errors import HandledGroup
from adapters.clock import SystemClock
from edge_agents.agent import Agent
from edge_agents.config import ModbusDriverConfig, build_driver, load
from edge_agents.modbus import ModbusDriver

app = typer.Typer(help="The edge agent: sample a machine, store and forward to MQTT.",
                  no_args_is_help=True, cls=HandledGroup)
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
    """Run the agent until SIGTERM or Ctrl-C (or `--duration`)."""
    settings = load(config)
    driver = build_driver(settings, SystemClock().now_ms())
    agent = Agent(settings.agent, driver, settings.mqtt, SystemClock(), settings.state_dir)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    agent.start()
    try:
        done.wait(duration)
    finally:
        agent.stop()
        if isinstance(driver, ModbusDriver):
            driver.close()
