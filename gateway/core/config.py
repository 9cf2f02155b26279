"""The gateway's settings: one pydantic-settings model, read from `LOOPMETER_GATEWAY_*`."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.influx import InfluxSettings
from adapters.mqtt import MqttSettings
from adapters.pdf import PdfSettings


class CarbonReportSettings(BaseSettings):
    """What the gateway needs of the energy-carbon engine's setup to serve its reports.

    Set like the engine itself (`LOOPMETER_CARBON_LEDGER_PATH`, ...), so that one environment
    points both at the same ledger; `LOOPMETER_GATEWAY_CARBON__*` overrides it for the gateway.
    """

    model_config = SettingsConfigDict(env_prefix="LOOPMETER_CARBON_", env_nested_delimiter="__",
                                      extra="ignore")

    ledger_path: Path = Field(Path("./var/ledger.sqlite"),
                              description="SQLite file of the engine's audit ledger.")
    keys_dir: Path = Field(Path("./var/keys"), description="The engine's site keys: their public "
                           "halves verify the signatures of the records reports show.")
    factors_path: Path | None = Field(None, description="Factor registry file the reports cite; "
                                      "the shipped one if unset.")
    timezone: str = Field("Asia/Shanghai", description="Zone whose days and months the "
                          "engine's periods follow.")
    profiles_path: Path = Field(Path("./var/sites"), description="Folder of site profiles "
                                "(<site>.yaml): the reporting entity printed on reports.")
    pdf: PdfSettings = Field(default_factory=PdfSettings,
                             description="Headless Chromium that prints reports to PDF.")
    horizon_s: int = Field(86_400, gt=0, description="How far before and after a counter "
                           "spread's window to look for the readings that bridge its edges, "
                           "as the engine does.")
    max_gap_s: int = Field(300, gt=0, description="Readings further apart than this are a gap "
                           "whose spread in time is estimated, as in the engine.")

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class GatewaySettings(BaseSettings):
    """Everything the gateway needs; the defaults work with `loopmeter services up`.

    Nested options use `__`, e.g. `LOOPMETER_GATEWAY_MQTT__PASSWORD`.
    """

    model_config = SettingsConfigDict(env_prefix="LOOPMETER_GATEWAY_",
                                      env_nested_delimiter="__", extra="ignore")

    registry_path: Path = Field(Path("var/gateway.sqlite"),
                                description="SQLite file holding API tokens and the device "
                                            "registry; created on first use.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings,
                               description="The gateway's own broker login; in dynsec mode it "
                                           "must be the dynamic-security admin.")
    influx: InfluxSettings = Field(default_factory=InfluxSettings,
                                   description="Where the telemetry is read from with InfluxQL.")
    device_broker_url: str | None = Field(None, description="Broker URL handed to devices in "
                                                            "their bundle; defaults to mqtt.url.")
    public_url: str = Field("http://127.0.0.1:8080",
                            description="The gateway's URL as devices see it, for the HTTP "
                                        "ingest address in connection bundles.")
    broker_timeout_s: float = Field(5.0, gt=0, description="How long to wait for the broker to "
                                                           "answer a command or a publish.")
    offline_after_s: float = Field(180.0, gt=0, description="A device not heard from for this "
                                                            "long is reported offline.")
    track_liveness: bool = Field(True, description="Subscribe to every device topic to report "
                                                   "online state, sequence gaps and backlog.")
    max_ingest_bytes: int = Field(1_048_576, gt=0, description="Largest HTTP ingest body "
                                                               "accepted, in bytes.")
    max_body_bytes: int = Field(65_536, gt=0, description="Largest body of any other request, "
                                                          "in bytes; larger ones are 413 "
                                                          "before they are read.")
    rate_limit_per_s: float = Field(50.0, gt=0, description="Requests per second one token may "
                                                            "make, sustained; beyond it 429 "
                                                            "with Retry-After.")
    rate_limit_burst: int = Field(100, ge=1, description="Requests one token may make at once "
                                                         "before the sustained rate applies.")
    max_points: int = Field(10_000, gt=0, description="Most time buckets one series query may "
                                                      "return; larger requests get a 422.")
    max_readings: int = Field(200_000, gt=0, description="Most raw counter readings a `spread` "
                              "of a counter may read (the counter rules need every reading); "
                              "larger windows get a 422.")
    max_births: int = Field(1_000, gt=0, description="Most births of one device inside what "
                            "a counter `spread` reads (its window's quarter-hours and the "
                            "engine's horizon either side; their declared maxima bound its "
                            "rollovers); more get a 422.")
    max_events: int = Field(1_000, gt=0, description="Most counter events (resets, meter "
                            "replacements, ...) one device may have declared inside what a "
                            "counter `spread` reads; more get a 422.")
    carbon: CarbonReportSettings = Field(default_factory=CarbonReportSettings,
                                         description="Where the energy-carbon engine's ledger "
                                                     "and factors are; by default read from "
                                                     "LOOPMETER_CARBON_*.")

    @property
    def broker_url_for_devices(self) -> str:
        return self.device_broker_url or self.mqtt.url
