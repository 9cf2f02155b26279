"""`loopmeter services up|down|status`: local Mosquitto, InfluxDB and nginx on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from adapters.cli_errors import HandledGroup
from adapters.local_services import services_dir
from loopmeter.services import (
    AuthMode,
    LocalServices,
    MqttAccount,
    ServiceStatus,
    chosen_ports,
)

app = typer.Typer(
    help="Run Mosquitto, InfluxDB 1.6 and its nginx front on loopback, for demos and tests.",
    no_args_is_help=True, cls=HandledGroup,
)

StateDir = Annotated[Path, typer.Option(
    "--state-dir", help="Folder for the services' configuration, data, pid files and logs.")]
# Rich reads "[default: ...]" as markup and drops it: the defaults are said in parentheses.
MqttPort = Annotated[int | None, typer.Option(
    min=1, max=65_535, help="MQTT port (default: the one saved by the last `up`, else 18830).")]
InfluxPort = Annotated[int | None, typer.Option(
    min=1, max=65_535,
    help="InfluxDB port that clients use, nginx's (default: saved, else 18086).")]
InfluxBackendPort = Annotated[int | None, typer.Option(
    min=1, max=65_535, help="InfluxDB's own port, behind nginx (default: saved, else 18087).")]
Auth = Annotated[AuthMode, typer.Option(
    help="anonymous: anyone may connect; dynsec: dynamic-security plugin, logins only.")]
AdminUser = Annotated[str, typer.Option(help="Broker admin user in dynsec mode.")]
AdminPassword = Annotated[str | None, typer.Option(
    envvar="LOOPMETER_MQTT_ADMIN_PASSWORD", help="Broker admin password in dynsec mode.")]

DEFAULT_STATE_DIR = services_dir()


@app.command()
def up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    mqtt_port: MqttPort = None,
    influx_port: InfluxPort = None,
    influx_backend_port: InfluxBackendPort = None,
    auth: Auth = "anonymous",
    admin_user: AdminUser = "admin",
    admin_password: AdminPassword = None,
) -> None:
    """Start whatever is not running yet and wait until every service answers."""
    if auth == "dynsec" and not admin_password:
        raise typer.BadParameter("dynsec needs --admin-password (or its environment variable)")
    admin = MqttAccount(admin_user, SecretStr(admin_password)) if admin_password else None
    ports = chosen_ports(state_dir, mqtt_port, influx_port, influx_backend_port)
    services = LocalServices(state_dir, ports, auth=auth, admin=admin)
    services.up()
    _print(services.status())


@app.command()
def down(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop every service; Mosquitto saves its sessions and queued messages first."""
    services = LocalServices(state_dir, chosen_ports(state_dir, None, None, None))
    services.down()
    _print(services.status())


@app.command()
def status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    mqtt_port: MqttPort = None,
    influx_port: InfluxPort = None,
    influx_backend_port: InfluxBackendPort = None,
) -> None:
    """Show each service's pid, address and whether it runs; exit 1 if any is stopped."""
    ports = chosen_ports(state_dir, mqtt_port, influx_port, influx_backend_port)
    statuses = LocalServices(state_dir, ports).status()
    _print(statuses)
    stopped = [item.name for item in statuses if not item.running]
    if stopped:
        typer.echo(f"stopped: {', '.join(stopped)}; start with `loopmeter services up`",
                   err=True)
        raise typer.Exit(1)


def _print(statuses: list[ServiceStatus]) -> None:
    table = Table("service", "pid", "address", "state")
    for item in statuses:
        state = "[green]running[/green]" if item.running else "[red]stopped[/red]"
        table.add_row(item.name, str(item.pid or "-"), item.address, state)
    Console().print(table)
