"""What request handlers reach through `Depends`: the clients opened by the lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

from adapters.clock import Clock
from gateway.broker import BrokerAdmin, Publisher
from gateway.core.config import GatewaySettings
from gateway.devices import DeviceService
from gateway.liveness import LivenessTracker
from gateway.metrics import SeriesReader
from gateway.registry import Registry
from gateway.reports import CarbonReports

HealthCheck = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Adapters:
    """The external systems, as their ports; fakes in unit tests, real clients otherwise."""

    registry: Registry
    broker: BrokerAdmin
    publisher: Publisher
    reader: SeriesReader
    liveness: LivenessTracker
    reports: CarbonReports
    checks: dict[str, HealthCheck] = field(default_factory=dict)


class Telemetry:
    """The gateway's own Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("loopmeter_gateway_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=self.registry)
        self.ingested = Counter("loopmeter_gateway_ingest_messages",
                                "HTTP ingest messages by outcome (accepted or the reason).",
                                ["outcome"], registry=self.registry)


@dataclass(frozen=True, slots=True)
class Gateway:
    settings: GatewaySettings
    adapters: Adapters
    devices: DeviceService
    clock: Clock
    telemetry: Telemetry

    @property
    def registry(self) -> Registry:
        return self.adapters.registry
