"""The one settings model of the ingest service (env prefix `LOOPMETER_INGEST_`, nested `__`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.influx import InfluxSettings
from adapters.mqtt import MqttSettings
from adapters.mqtt.wire import Codec


class BatchSettings(BaseModel):
    """When a batch of points is written: whichever bound is reached first."""

    max_points: int = Field(10_000, ge=1, description="Write once this many points are pending; "
                            "larger requests cost InfluxDB less per point.")
    max_messages: int = Field(500, ge=1, description="Write once this many messages are pending; "
                              "keep it below the receive maximum so that batches can fill.")
    max_delay_s: float = Field(0.2, gt=0, description="Write at the latest this long after the "
                               "first pending message arrived.")
    parallel_writes: int = Field(2, ge=1, le=16, description="Requests a large batch is split "
                                 "into and sent at once; InfluxDB parses them on several cores.")


class RetrySettings(BaseModel):
    """How long InfluxDB failures are retried before batches go to the spool."""

    initial_backoff_s: float = Field(0.2, gt=0, description="First wait after a failed write.")
    max_backoff_s: float = Field(5.0, gt=0, description="Cap of the doubling wait between retries.")
    max_throttle_s: float = Field(60.0, gt=0, description="Cap of a server's Retry-After.")
    spool_after_s: float = Field(5.0, ge=0, description="Spool a batch that InfluxDB has not taken "
                                 "within this long, so that its messages can be acknowledged.")


class SpoolSettings(BaseModel):
    """The on-disk spool that holds batches while InfluxDB is unavailable."""

    max_bytes: int = Field(512 * 1024 * 1024, ge=1, description="When the spool holds this many "
                           "bytes of line protocol, ingest stops taking messages (the broker "
                           "queues them) until InfluxDB drains it.")


class DeadLetterSettings(BaseModel):
    """The local dead-letter store of messages and points that cannot be stored."""

    max_entries: int = Field(100_000, ge=1, description="Oldest entries are evicted beyond this "
                             "(counted); counts by reason are kept forever.")
    max_payload_bytes: int = Field(65_536, ge=64, description="Raw payloads are kept up to this "
                                   "size; longer ones are truncated and marked so.")


class IngestSettings(BaseSettings):
    """Everything the ingest service needs; defaults match `loopmeter services up`."""

    model_config = SettingsConfigDict(env_prefix="LOOPMETER_INGEST_", env_nested_delimiter="__",
                                      extra="ignore")

    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="Broker connection.")
    influx: InfluxSettings = Field(default_factory=InfluxSettings, description="InfluxDB target.")
    group: str = Field("loopmeter-ingest", pattern=r"^[A-Za-z0-9_-]+$",
                       description="Shared-subscription group that the workers join.")
    site: str = Field("+", pattern=r"^(\+|[a-z0-9][a-z0-9_-]{0,63})$",
                      description="Only this site's topics; `+` takes every site.")
    subscription: Literal["shared", "exclusive"] = Field(
        "shared", description="`shared`: workers split the stream through `$share/<group>/...`. "
        "`exclusive`: one worker with an ordinary subscription; use it where a broker restart "
        "must lose nothing, because Mosquitto 2.0.11 does not restore shared subscriptions from "
        "its persistence file, and drops what is published before the workers resubscribe.")
    worker: int = Field(0, ge=0, lt=1000, description="Index of this worker; its MQTT client id "
                        "is `<group>-<worker>`, stable across restarts so that its session "
                        "(and the messages it had in flight) survives a crash.")
    session_expiry_s: int = Field(86_400, ge=0, description="How long the broker keeps a worker's "
                                  "session and queued messages while it is disconnected.")
    receive_maximum: int = Field(1000, ge=1, le=65_535, description="Unacknowledged messages the "
                                 "broker may have in flight to one worker (MQTT 5 CONNECT).")
    confirm: bool = Field(True, description="Publish to each device, on its "
                          "`.../ack/durable` topic, which of its data messages are durable, so "
                          "that agents delete them only then (contract.md, End-to-end "
                          "acknowledgement); the login must be allowed to publish there.")
    codec: Codec = Field("hand-written", description="Who decodes the broker's packets: "
                         "`hand-written` (correct on malformed input) or `mqtt5` (faster, but "
                         "0.8.0 panics on a string that is not UTF-8; docs/ingest.md).")
    batch: BatchSettings = Field(default_factory=BatchSettings, description="Write batching.")
    retry: RetrySettings = Field(default_factory=RetrySettings, description="Write retries.")
    spool: SpoolSettings = Field(default_factory=SpoolSettings, description="On-disk spool.")
    dead_letters: DeadLetterSettings = Field(default_factory=DeadLetterSettings,
                                             description="Dead-letter store.")
    state_dir: Path = Field(Path.home() / ".local/state/loopmeter/ingest",
                            description="Folder of the spool and dead-letter SQLite files; "
                            "each worker uses its own files inside it.")
    quality_interval_s: float = Field(10.0, gt=0, description="How often data-quality and "
                                      "health points are written to InfluxDB.")
    late_after_s: float = Field(300.0, gt=0, description="A sample older than this on arrival "
                                "counts as late in `ingest_quality`.")
    http_host: str = Field("127.0.0.1", description="Address of the /metrics and /healthz server.")
    http_port: int | None = Field(18090, ge=0, le=65_535, description="Port of the HTTP server "
                                  "for worker 0 (worker i uses port + i); 0 picks a free port, "
                                  "unset disables it.")
    create_database: bool = Field(True, description="Create the InfluxDB 1.x database on start "
                                  "(best effort; 2.x buckets are created by their admin).")
    log_level: str = Field("INFO", description="Python logging level.")

    @property
    def client_id(self) -> str:
        return f"{self.group}-{self.worker}"

    def for_worker(self, worker: int) -> IngestSettings:
        return self.model_copy(update={"worker": worker})
