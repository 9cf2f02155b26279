"""`loopmeter sim`: list scenarios, run a plant to the broker, write ground truth, serve Modbus."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from adapters.cli_errors import HandledGroup, broker_url
from adapters.errors import LoopmeterError
from adapters.local_services import default_mqtt_url
from adapters.mqtt import BROKER_OPTION_HINT, MqttSettings, check_reachable
from contract import EquipmentType
from simulators.clock import SimulatedClock
from simulators.modbus import MeterServer
from simulators.plant import Plant
from simulators.province import province, write_profiles
from simulators.runs import RunSpec, run_agents, run_direct, unapplied_by_fleet
from simulators.scenario import Scenario, load_scenario, shipped_scenarios
from simulators.truth import TruthWriter
from simulators.units import parse_duration

app = typer.Typer(help="Simulated plants.", no_args_is_help=True, cls=HandledGroup)

ScenarioOption = Annotated[str, typer.Option(help="Shipped scenario name or path to a YAML file.")]
DurationOption = Annotated[str, typer.Option(help="Simulated time to run, e.g. 1d, 2h, 90s.")]
SeedOption = Annotated[int, typer.Option(help="Seed of every random draw.")]
TruthOption = Annotated[Path | None, typer.Option(
    "--ground-truth", help="Write ground truth here (.jsonl, otherwise CSV).")]
SiteOption = Annotated[str | None, typer.Option(help="Override the scenario's site id.")]
StartOption = Annotated[str | None, typer.Option(
    help="Simulated start (ISO 8601 with offset), or 'ago' to end the run now; "
         "default: the scenario's.")]


@app.command("list")
def list_scenarios() -> None:
    """Show the shipped scenarios."""
    table = Table("name", "site", "lines", "devices", "description", title="Scenarios")
    for scenario in shipped_scenarios():
        table.add_row(scenario.name, scenario.site, str(len(scenario.lines)),
                      str(scenario.device_count), scenario.description)
    Console(width=160).print(table)


@app.command("truth")
def write_truth(
    scenario: ScenarioOption, output: Annotated[Path, typer.Option(help="Output file.")],
    duration: DurationOption = "1d", seed: SeedOption = 1, start: StartOption = None,
    site: SiteOption = None,
) -> None:
    """Run the physics offline, as fast as it goes, and write the ground truth only."""
    chosen = _scenario(scenario, start, duration, site)
    plant = Plant.from_scenario(chosen, seed)
    writer = TruthWriter(output)
    end_ms = chosen.start_ms + round(parse_duration(duration) * 1000)
    plant.advance_to(end_ms)
    writer.write(plant.truth.drain(), plant.fault_log.drain())
    typer.echo(f"wrote {output} ({len(plant.devices)} devices, {duration} of plant time)")


@app.command("run")
def run(
    scenario: ScenarioOption,
    speed: Annotated[float, typer.Option(
        min=0.001, help="Simulated seconds per wall second, at most: a busy machine runs slower, "
             "it never skips plant time.")] = 1440.0,
    duration: DurationOption = "1d",
    broker: Annotated[str | None, typer.Option(
        callback=broker_url,
        help="MQTT broker URL (default: the broker of `loopmeter services up`).")] = None,
    username: Annotated[str | None, typer.Option(
        envvar="LOOPMETER_SIM_MQTT__USERNAME", help="Broker login, if it requires one.")] = None,
    password: Annotated[str | None, typer.Option(
        envvar="LOOPMETER_SIM_MQTT__PASSWORD", help="Password of the broker login.")] = None,
    seed: SeedOption = 1,
    ground_truth: TruthOption = None,
    start: StartOption = None,
    site: SiteOption = None,
    batch: Annotated[str, typer.Option(help="Simulated time per data message.")] = "5m",
    agents: Annotated[bool, typer.Option(
        "--agents/--direct", help="Through one edge agent per device (store and forward, "
        "network drops as outages), or directly (every link fault kind).")] = True,
    state_dir: Annotated[Path | None, typer.Option(
        help="Agents' queue folder; default a temporary one.")] = None,
    confirm: Annotated[bool, typer.Option(
        "--confirm/--no-confirm", help="Agents keep each data message until ingest confirms "
        "it durable; --no-confirm deletes on the broker's PUBACK (no ingest running).")] = True,
) -> None:
    """Run a plant in simulated time and publish its devices' data to the broker."""
    chosen = _scenario(scenario, start, duration, site)
    plant = Plant.from_scenario(chosen, seed)
    mqtt = MqttSettings(url=broker or default_mqtt_url(), username=username,
                        password=SecretStr(password) if password is not None else None)
    check_reachable(mqtt, BROKER_OPTION_HINT)
    spec = RunSpec(plant, mqtt, SimulatedClock(chosen.start_ms, speed),
                   chosen.start_ms + round(parse_duration(duration) * 1000),
                   parse_duration(batch), TruthWriter(ground_truth) if ground_truth else None,
                   confirm)
    if agents and unapplied_by_fleet(plant):
        typer.echo(f"note: the agent fleet does not inject {', '.join(unapplied_by_fleet(plant))}"
                   "; use --direct for those", err=True)
    try:
        result = run_agents(spec, state_dir) if agents else run_direct(spec)
    finally:
        if spec.writer:
            spec.writer.write(plant.truth.drain(), plant.fault_log.drain())
    typer.echo(f"{result.messages} messages delivered; {len(plant.fault_log.records)} faults "
               "injected")
    if not result.delivered and agents and confirm:
        raise LoopmeterError("ingest did not confirm every message as stored",
                             "is `loopmeter ingest run` running on this broker? Without "
                             "ingest, run with --no-confirm")
    if not result.delivered:
        raise LoopmeterError("not everything was acknowledged by the broker",
                             f"check that {mqtt.url} accepts this login and its messages")


@app.command("province")
def province_profiles(
        out: Annotated[Path, typer.Option(help="Folder to write <site>.yaml profiles into.")],
        sites: Annotated[int, typer.Option(min=1, help="How many plants.")] = 24,
        seed: Annotated[int, typer.Option(help="Seed of the names and codes.")] = 16) -> None:
    """Write the site profiles of a simulated province (>= 4 domains, 6 cities)."""
    paths = write_profiles(province(sites, seed), out)
    typer.echo(f"wrote {len(paths)} site profiles to {out}")


@app.command("modbus")
def modbus(
    scenario: ScenarioOption,
    device: Annotated[str, typer.Option(help="The electricity meter to serve, as line/device.")],
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 5020,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    speed: Annotated[float, typer.Option(min=0.001,
                                         help="Simulated seconds per wall second.")] = 1.0,
    duration: DurationOption = "1d",
    seed: SeedOption = 1,
    start: StartOption = None,
) -> None:
    """Run a plant and serve one of its electricity meters over Modbus TCP."""
    chosen = _scenario(scenario, start, duration, None)
    plant = Plant.from_scenario(chosen, seed)
    try:
        meter = plant.device(device)
    except KeyError:
        raise typer.BadParameter(f"no device {device!r} in {chosen.name}") from None
    if meter.type is not EquipmentType.ELECTRICITY_METER:
        raise typer.BadParameter(f"{device} is a {meter.type.value}, not an electricity meter")
    end_ms = chosen.start_ms + round(parse_duration(duration) * 1000)
    clock = SimulatedClock(chosen.start_ms, speed)
    asyncio.run(_serve(plant, MeterServer(meter.read, host, port), clock, end_ms))


async def _serve(plant: Plant, server: MeterServer, clock: SimulatedClock, end_ms: int) -> None:
    bound = await server.start()
    typer.echo(f"serving {plant.site} meter registers on port {bound}; Ctrl-C stops")
    try:
        while plant.now_ms + plant.step_ms <= end_ms:
            plant.advance_to(min(end_ms, clock.now_ms()))
            await asyncio.sleep(clock.advance(plant.step_ms / 1000))
    finally:
        await server.stop()


def _scenario(name: str, start: str | None, duration: str, site: str | None) -> Scenario:
    """The scenario, with its start and site overridden if asked (and validated again)."""
    if start == "ago":
        now_s = datetime.now(UTC).timestamp()
        start = datetime.fromtimestamp(now_s - parse_duration(duration), UTC).isoformat()
    return load_scenario(name).overridden(start=start, site=site)
