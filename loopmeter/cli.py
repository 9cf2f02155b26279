"""The `loopmeter` command: one entry point whose subcommands reach every component."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from contract.docs import catalogue_markdown
from contract.schema import json_schemas
from gateway.cli import app as gateway_app
from ingest_service.carbon.cli import app as carbon_app
from loopmeter.services_cli import app as services_app

app = typer.Typer(help="Loopmeter: energy and carbon metering for recycling plants.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
contract_app = typer.Typer(help="The v1 MQTT/payload contract.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")
app.add_typer(services_app, name="services")
app.add_typer(carbon_app, name="carbon")
app.add_typer(gateway_app, name="gateway")


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
