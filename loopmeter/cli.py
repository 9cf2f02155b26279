"""The `loopmeter` command: one entry point whose subcommands reach every component."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from adapters.cli_errors import DEBUG_ENV, HandledGroup, exit_codes_help
from carbon.cli import app as carbon_app
from contract.docs import catalogue_markdown
from contract.schema import json_schemas
from dashboards.cli import app as dashboards_app
from edge_agents.cli import app as agent_app
from edge_agents.conformance.cli import conformance
from gateway.cli import app as gateway_app
from ingest_service.cli import app as ingest_app
from loopmeter.demo import DemoOptions, device_table, result_table, run_demo
from loopmeter.services_cli import InfluxBackendPort, InfluxPort, MqttPort
from loopmeter.services_cli import app as services_app
from simulators.cli import app as sim_app

app = typer.Typer(help="Loopmeter: energy and carbon metering for recycling plants.",
                  epilog=exit_codes_help(), no_args_is_help=True, cls=HandledGroup,
                  pretty_exceptions_show_locals=False)
contract_app = typer.Typer(help="The v1 MQTT/payload contract.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")
app.add_typer(services_app, name="services")
app.add_typer(carbon_app, name="carbon")
app.add_typer(gateway_app, name="gateway")
app.add_typer(ingest_app, name="ingest")
app.add_typer(sim_app, name="sim")
app.add_typer(agent_app, name="agent")
app.add_typer(dashboards_app, name="dashboards")
app.command("conformance")(conformance)


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option(
        "--debug", envvar=DEBUG_ENV, help="Show the traceback of a failure, and debug logs.")]
    = False,
) -> None:
    """Loopmeter: energy and carbon metering for recycling plants."""
    # `debug` is read back from the context by adapters.cli_errors.HandledGroup.


@app.command("demo")
def demo(
    scenario: Annotated[str, typer.Option(help="Shipped scenario name or YAML path.")]
    = "construction-waste",
    speed: Annotated[float, typer.Option(min=0.001,
                                         help="Simulated seconds per wall second.")] = 1440.0,
    state_dir: Annotated[Path, typer.Option(help="Folder of the services' and demo's state.")]
    = Path("var"),
    database: Annotated[str, typer.Option(
        help="InfluxDB database to write; emptied first, so every run shows the same figures.")]
    = "loopmeter",
    mqtt_port: MqttPort = None,
    influx_port: InfluxPort = None,
    influx_backend_port: InfluxBackendPort = None,
) -> None:
    """Run yesterday's plant-day through agents, Mosquitto, ingest, InfluxDB and the ledger.

    Run it as often as you like: each run empties its database, agent queues, ingest state
    and ledger first, so it shows the same figures every time (on the same day).
    """
    console = Console()
    result = run_demo(DemoOptions(scenario=scenario, speed=speed, state_dir=state_dir,
                                  database=database, mqtt_port=mqtt_port,
                                  influx_port=influx_port,
                                  influx_backend_port=influx_backend_port), console)
    console.print(device_table(result))
    console.print(result_table(result))
    console.print(f"chart of computed vs ground truth: {result.chart}", soft_wrap=True)
    console.print(f"printable carbon report: {result.report}", soft_wrap=True)
    console.print(f"audit ledger: {result.ledger}; check it with "
                  f"`LOOPMETER_CARBON_LEDGER_PATH={result.ledger} loopmeter carbon verify`",
                  soft_wrap=True)
    console.print(f"the services keep running; stop them with `loopmeter services down "
                  f"--state-dir {state_dir / 'services'}`", soft_wrap=True)
    if not result.ledger_ok:
        raise typer.Exit(1)


@contract_app.command("schema")
def write_schemas(
    output_dir: Annotated[Path, typer.Option(help="Folder for <kind>.schema.json files.")] = Path(
        "docs/schemas"),
) -> None:
    """Write the JSON Schema of every message kind."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for kind, schema in json_schemas().items():
        path = output_dir / f"{kind}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        typer.echo(f"wrote {path}")


@contract_app.command("catalogue")
def write_catalogue(
    output: Annotated[Path | None, typer.Option(help="Write Markdown here instead of stdout.")]
    = None,
) -> None:
    """Print (or write) the metric catalogue as Markdown."""
    text = catalogue_markdown()
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
