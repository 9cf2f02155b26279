"""Where `loopmeter services up` put the local broker and InfluxDB: every URL's default.

`services up` saves its ports in `<state dir>/ports.json`; the settings of the agent, the
ingest service, the gateway, the carbon engine, the simulator and the conformance kit read
them back, so one `services up --mqtt-port N` moves every default at once. The state folder
is ./var/services unless LOOPMETER_SERVICES_DIR names another.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
PORTS_FILE = "ports.json"  # in the state folder: the ports the services were given
SERVICES_DIR_ENV = "LOOPMETER_SERVICES_DIR"
DEFAULT_SERVICES_DIR = Path("var/services")


@dataclass(frozen=True, slots=True)
class ServicePorts:
    """Loopback ports; the defaults stay clear of the system's own 1883 and 8086."""

    mqtt: int = 18830
    influx: int = 18086
    """nginx, the InfluxDB URL clients use."""
    influx_backend: int = 18087
    """InfluxDB 1.6 itself, reached only through nginx."""

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> ServicePorts | None:
        """The ports saved by an earlier `up`, or None if there were none (or unreadable)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def services_dir() -> Path:
    return Path(os.environ.get(SERVICES_DIR_ENV) or DEFAULT_SERVICES_DIR)


def saved_ports(state_dir: Path | None = None) -> ServicePorts:
    """The ports of the last `services up` in `state_dir` (default: `services_dir()`)."""
    return ServicePorts.load((state_dir or services_dir()) / PORTS_FILE) or ServicePorts()


def default_mqtt_url() -> str:
    return f"mqtt://{HOST}:{saved_ports().mqtt}"


def default_influx_url() -> str:
    return f"http://{HOST}:{saved_ports().influx}"
