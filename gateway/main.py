"""The gateway application: `create_app(settings)`; the lifespan opens the clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from adapters.clock import Clock, SystemClock
from adapters.influx import InfluxQL
from carbon import Ledger, SiteKeys, SQLiteStore, load_registry
from contract import DataMessage, subscription
from gateway.api import problems
from gateway.api.guard import RequestGuard
from gateway.api.routes import audit, devices, health, ingest, metrics, regulator, reports
from gateway.broker import DynsecAdmin, MqttLink, MqttPublisher
from gateway.context import Adapters, Gateway, Telemetry
from gateway.core.config import CarbonReportSettings, GatewaySettings
from gateway.devices import DeviceService
from gateway.liveness import LivenessTracker
from gateway.registry import Registry
from gateway.reports import CarbonReports

AdapterFactory = Callable[[GatewaySettings, Clock], AbstractContextManager[Adapters]]


@contextmanager
def open_adapters(settings: GatewaySettings, clock: Clock) -> Iterator[Adapters]:
    """The real clients: SQLite registry, one MQTT connection, InfluxQL over HTTP."""
    with ExitStack() as stack:
        registry = Registry(settings.registry_path)
        stack.callback(registry.close)
        link = MqttLink(settings.mqtt, settings.broker_timeout_s)
        liveness = LivenessTracker()
        if settings.track_liveness:
            link.subscribe(subscription(), lambda topic, payload, retained: liveness.observe(
                topic, payload, clock.now_ms(), retained))
        broker = DynsecAdmin(link, settings.broker_timeout_s)
        link.open(wait=True)  # the gateway serves (and says not ready) while the broker is away
        stack.callback(link.close)
        reader = InfluxQL(settings.influx)
        stack.callback(reader.close)
        yield Adapters(registry, broker, MqttPublisher(link), reader, liveness,
                       open_reports(settings.carbon), checks={
            "registry": registry.ping, "broker": lambda: link.connected,
            "influxdb": reader.ping})


def open_reports(carbon: CarbonReportSettings) -> CarbonReports:
    return CarbonReports(Ledger(SQLiteStore(carbon.ledger_path)),
                         load_registry(carbon.factors_path), carbon.zone(),
                         carbon.profiles_path, carbon.pdf, SiteKeys(carbon.keys_dir))


def create_app(settings: GatewaySettings | None = None, *,
               adapters: AdapterFactory = open_adapters, clock: Clock | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    clock = clock or SystemClock()
    telemetry = Telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with adapters(settings, clock) as opened:
            app.state.gateway = Gateway(settings, opened,
                                        DeviceService(opened.registry, opened.broker, clock),
                                        clock, telemetry)
            yield

    app = FastAPI(title="Loopmeter gateway", version="1",
                  description="The HTTP front door of Loopmeter: devices, metrics, carbon "
                              "reports and the audit ledger. Every error is RFC 9457 "
                              "problem details.", lifespan=lifespan)
    problems.install(app)
    for module in (devices, ingest, metrics, reports, regulator, audit, health):
        app.include_router(module.router)
    # Inside the observing middleware, so that what the guard refuses is counted too.
    app.add_middleware(RequestGuard, settings=settings, clock=clock)
    app.middleware("http")(_observed(telemetry))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _observed(telemetry: Telemetry) -> Callable[
        [Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def middleware(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        telemetry.requests.labels(request.method, getattr(route, "path", "unmatched"),
                                  str(response.status_code)).inc()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    return middleware


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the contract's DataMessage, which HTTP ingest reads raw."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        data = DataMessage.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(data.pop("$defs", {}))
        components[ingest.DATA_SCHEMA] = data
        app.openapi_schema = schema
    return app.openapi_schema
