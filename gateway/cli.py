"""`loopmeter gateway`: run the HTTP gateway and manage its API tokens."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Annotated

import typer
import uvicorn

from adapters.cli_errors import HandledGroup
from adapters.clock import SystemClock
from adapters.errors import LoopmeterError, PortInUse, is_port_in_use
from carbon import load_registry
from gateway.core.config import GatewaySettings
from gateway.core.security import Role
from gateway.main import create_app
from gateway.registry import Registry
from gateway.tokens import create_token

app = typer.Typer(help="The HTTP gateway: devices, metrics, reports and the audit ledger.",
                  no_args_is_help=True, cls=HandledGroup)
token_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
) -> None:
    """Serve the gateway (settings from LOOPMETER_GATEWAY_* environment variables).

    It starts while the broker or InfluxDB is down, and /health (or /healthz) answers 503
    naming what is missing until they answer.
    """
    settings = GatewaySettings()
    # What a user can get wrong is opened here, where its error is reported in one line;
    # inside uvicorn's start-up it would be a traceback.
    with Registry(settings.registry_path):
        pass
    load_registry(settings.carbon.factors_path)
    _check_free(host, port)
    uvicorn.run(create_app(settings), host=host, port=port)


def _check_free(host: str, port: int) -> None:
    """Say which option to change, rather than uvicorn's bare "address already in use"."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if is_port_in_use(error):
                raise PortInUse(port, "--port") from error
            raise


def _registry() -> Registry:
    return Registry(GatewaySettings().registry_path)


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="What the token may do.")],
    name: Annotated[str, typer.Option(help="Who or what holds it.")] = "",
) -> None:
    """Create a token and print it once; only its SHA-256 digest is stored."""
    with _registry() as registry:
        record, token = create_token(registry, role, name or role.value, SystemClock())
    typer.echo(f"created {record.id} ({record.role.value}, {record.name}); "
               "store this token now, it is not shown again:", err=True)
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List tokens (never the tokens themselves)."""
    with _registry() as registry:
        records = registry.tokens()
    for record in records:
        state = f"revoked {_when(record.revoked_ms)}" if record.revoked_ms else "active"
        typer.echo(f"{record.id}\t{record.role.value}\t{record.name}\t"
                   f"created {_when(record.created_ms)}\t{state}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The id shown by `list`.")]) -> None:
    """Revoke a token; requests with it get 401 from then on."""
    with _registry() as registry:
        revoked = registry.revoke_token(token_id, SystemClock().now_ms())
    if not revoked:
        raise LoopmeterError(f"no active token {token_id}",
                             "`loopmeter gateway token list` shows the ids")
    typer.echo(f"revoked {token_id}")


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp((ms or 0) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
