"""`loopmeter dashboards`: regenerate the committed dashboard JSON, or push it to Grafana."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from adapters.cli_errors import HandledGroup
from dashboards.build import GENERATED, dashboards, stale, to_dict, write
from dashboards.push import GrafanaStore, push

app = typer.Typer(help="Grafana dashboards as code: build the committed JSON, push to Grafana.",
                  no_args_is_help=True, cls=HandledGroup)


@app.command()
def build(
    check: Annotated[bool, typer.Option(
        "--check", help="Change nothing; exit 1 if the files differ from what the code makes.")]
    = False,
    folder: Annotated[Path, typer.Option(help="Where the JSON files live.")] = GENERATED,
) -> None:
    """Regenerate the dashboard JSON files from the code (sorted keys, committed)."""
    if check:
        differing = stale(folder)
        if differing:
            typer.echo("Stale dashboards (run `loopmeter dashboards build`): "
                       + ", ".join(differing), err=True)
            raise typer.Exit(1)
        typer.echo(f"Dashboards in {folder} are up to date.")
        return
    for name in write(folder):
        typer.echo(f"wrote {folder / name}")


@app.command("push")
def push_command(
    url: Annotated[str, typer.Option(envvar="LOOPMETER_GRAFANA_URL",
                                     help="Grafana's base URL, e.g. http://localhost:3000.")],
    token: Annotated[str, typer.Option(envvar="LOOPMETER_GRAFANA_TOKEN",
                                       help="A service-account token with editor rights.")],
    folder: Annotated[str, typer.Option(help="The Grafana folder to put them in.")]
    = "Loopmeter",
) -> None:
    """Upload every dashboard into a Grafana folder; running it again changes nothing."""
    with GrafanaStore(url, SecretStr(token)) as store:
        result = push(store, [to_dict(board) for board in dashboards()], folder)
    created = " (created)" if result.created_folder else ""
    typer.echo(f"Pushed {len(result.dashboards)} dashboards to folder {folder!r}"
               f"{created}: {', '.join(result.dashboards)}")
