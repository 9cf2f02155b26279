"""`loopmeter conformance`: watch one device and check it against every clause of the contract.

The lead registers `conformance` as a top-level command; `app` runs it alone
(`python -m edge_agents.conformance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from adapters.cli_errors import HandledCommand, broker_url
from adapters.clock import SystemClock
from adapters.local_services import default_mqtt_url
from adapters.mqtt import BROKER_OPTION_HINT, MqttSettings, check_reachable
from contract import DeviceId
from edge_agents.conformance.clauses import CheckSettings, check_all
from edge_agents.conformance.report import Report, render
from edge_agents.conformance.watch import watch

app = typer.Typer(help="Check one device's MQTT traffic against the v1 contract.")


def _device(value: str) -> DeviceId:
    parts = value.split("/")
    if len(parts) != 3:
        raise typer.BadParameter(f"{value!r} is not SITE/LINE/DEVICE")
    try:
        return DeviceId(*parts)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


@app.command(cls=HandledCommand)
def conformance(
    device: Annotated[str, typer.Option(help="The device, as SITE/LINE/DEVICE.")],
    broker: Annotated[str | None, typer.Option(
        callback=broker_url,
        help="Broker URL, mqtt://host:port or mqtts://... (default: the broker of "
             "`loopmeter services up`).")] = None,
    duration: Annotated[float, typer.Option(help="Seconds to watch; at least three batch "
                                                 "periods of the device.", min=1)] = 300.0,
    username: Annotated[str | None, typer.Option(help="Broker username.")] = None,
    password: Annotated[str | None, typer.Option(help="Broker password.",
                                                 envvar="LOOPMETER_MQTT_PASSWORD")] = None,
    ca_file: Annotated[Path | None, typer.Option(help="CA of the broker (mqtts://).")] = None,
    cert_file: Annotated[Path | None, typer.Option(help="Client certificate, mutual TLS.")]
    = None,
    key_file: Annotated[Path | None, typer.Option(help="Key of the client certificate.")]
    = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report "
                                                                  "as JSON here.")] = None,
    max_skew: Annotated[float, typer.Option(help="Largest clock skew accepted, seconds.")]
    = 10.0,
    expect_death: Annotated[bool, typer.Option(help="The device's connection will be cut "
                                                    "during the watch: require its last "
                                                    "will.")] = False,
) -> None:
    """Watch DEVICE for DURATION seconds, print a pass/fail table per clause; exit 1 on FAIL."""
    device_id = _device(device)
    tls = {"ca_file": ca_file, "cert_file": cert_file, "key_file": key_file}
    broker = broker or default_mqtt_url()
    settings = MqttSettings.model_validate({
        "url": broker, "username": username, "password": password,
        "tls": tls if any(tls.values()) else None})
    check_reachable(settings, BROKER_OPTION_HINT)
    observations = watch(settings, device_id, duration, SystemClock())
    checks = CheckSettings(max_skew_ms=round(max_skew * 1000), expect_death=expect_death)
    report = Report(device_id, broker, duration, len(observations),
                    tuple(check_all(device_id, observations, checks)))
    render(report, Console())
    if json_out is not None:
        json_out.write_text(report.to_json() + "\n", encoding="utf-8")
    raise typer.Exit(0 if report.passed else 1)
