"""One ingest worker: wires the MQTT source, the pipeline, the stores and the HTTP server.

    IngestService(settings).start()   connect, subscribe, run the pipeline threads
    IngestService.stop()              stop taking messages, write and acknowledge what is
                                      pending, disconnect

Two threads share the work: `ingest-<worker>` decodes messages into batches and seals them;
`commit-<worker>` writes sealed batches, acknowledges their messages and replays the spool.
One sealed batch may wait between them, so decoding overlaps the write without letting
either run ahead unboundedly; only the commit thread touches InfluxDB and SQLite.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Any

from adapters.clock import Clock, SystemClock
from adapters.influx import InfluxError, InfluxQL, PointWriter
from adapters.mqtt import Session
from adapters.ops_http import OpsServer
from contract.topics import every_topic
from ingest_service.pipeline import Batch, Inbound, Pipeline
from ingest_service.poison import InFlightMarker, marker_path
from ingest_service.policy import ConcurrentWriter, retry_backoff, write_policy
from ingest_service.quality import SequenceTracker
from ingest_service.settings import IngestSettings
from ingest_service.source import MqttSource
from ingest_service.stats import Stats
from ingest_service.storage import DeadLetters, Spool, open_database, worker_database
from ingest_service.store import DurableStore
from ingest_service.web import stats_registry

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.25
# Received chunks waiting for the pipeline: each holds what one read of the socket brought
# (at most 256 KiB of packets), so this bounds the memory of messages not yet decoded.
_INBOX_CHUNKS = 16


def _topic_filter(settings: IngestSettings) -> str:
    """Everything under the prefix: a message on a malformed topic is dead-lettered."""
    if settings.subscription == "shared":
        return f"$share/{settings.group}/{every_topic(settings.site)}"
    return every_topic(settings.site)


class IngestService:
    def __init__(self, settings: IngestSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.stats = Stats()
        self._clock = clock or SystemClock()
        self._writer = PointWriter(settings.influx)
        self._concurrent = ConcurrentWriter(self._writer, settings.batch.parallel_writes)
        self._inbox: queue.Queue[list[Inbound]] = queue.Queue(maxsize=_INBOX_CHUNKS)
        self._waiting: deque[Inbound] = deque()  # taken from the inbox, not yet offered
        self._sealed: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ingest-{settings.worker}",
                                        daemon=True)
        self._committer = threading.Thread(target=self._commit_loop,
                                           name=f"commit-{settings.worker}", daemon=True)
        self._failed: str | None = None
        self._db = open_database(worker_database(settings.state_dir, settings.worker))
        self.dead_letters = DeadLetters.configured(self._db, settings.dead_letters)
        self.spool = Spool(self._db, settings.spool.max_bytes)
        self._in_flight = InFlightMarker(marker_path(settings.state_dir, settings.worker))
        self.source = MqttSource(settings.mqtt, Session(
            settings.client_id, clean_start=False, expiry_s=settings.session_expiry_s,
            receive_maximum=settings.receive_maximum, manual_ack=True),
            _topic_filter(settings), self._clock, self._inbox, stats=self.stats,
            codec=settings.codec)
        self.pipeline = self._pipeline()
        self.http: OpsServer | None = None

    def _pipeline(self) -> Pipeline:
        retry = self.settings.retry
        self._store = DurableStore(write_policy(self._concurrent, self._clock, retry), self.spool,
                                   self.dead_letters, self._clock,
                                   database=self.settings.influx.database,
                                   patience_s=retry.spool_after_s, backoff=retry_backoff(retry),
                                   stats=self.stats)
        tracker = SequenceTracker(int(self.settings.late_after_s * 1000))
        return Pipeline(self._store, self.dead_letters, self.source, tracker, self._clock,
                        self.settings.batch, self.stats, self._in_flight,
                        confirms=self.source if self.settings.confirm else None)

    def start(self) -> IngestService:
        """Serve /healthz, then connect and process.

        A broker that is down is waited for (the source retries with capped backoff and
        logs each attempt; /healthz answers 503 until connected); InfluxDB being down only
        spools. What cannot be retried (the HTTP port taken) leaves nothing running.
        """
        if self.settings.create_database:
            self._create_database()
        try:
            self._serve_http()
        except Exception:
            self.source.stop()  # never started: only closes its wake-up sockets
            self._close()
            raise
        self.source.start(wait=True)
        self._committer.start()
        self._thread.start()
        return self

    def _serve_http(self) -> None:
        if self.settings.http_port is not None:
            port = self.settings.http_port + self.settings.worker if self.settings.http_port else 0
            self.http = OpsServer(self.settings.http_host, port,
                                  stats_registry(self.stats, self.settings.worker), self.health,
                                  name=f"ingest-http-{self.settings.worker}",
                                  setting="LOOPMETER_INGEST_HTTP_PORT")
            self.http.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Drain: write and acknowledge every message received, then disconnect."""
        self._stopping.set()
        self._thread.join(timeout_s)
        self._committer.join(timeout_s)
        self.stats.unacked, self.stats.oldest_unacked_s = self.pipeline.unacked()
        self.source.stop()
        if self.http:
            self.http.stop()
        self._close()

    def _close(self) -> None:
        self._concurrent.close()
        self._writer.close()
        self._db.close()
        self._in_flight.close()

    def __enter__(self) -> IngestService:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_idle(self, quiet_s: float = 2.0, timeout_s: float = 120.0) -> bool:
        """Wait until nothing arrived for `quiet_s` and every message is acknowledged.

        For demos and tests that publish a finite stream; False if `timeout_s` passed first.
        """
        seen, since = -1, time.monotonic()
        deadline = since + timeout_s
        while time.monotonic() < deadline and self._failed is None:
            unacked, _ = self.pipeline.unacked()
            if self.stats.messages_in != seen or unacked:
                seen, since = self.stats.messages_in, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return True
            time.sleep(0.1)
        return False

    @property
    def failure(self) -> str | None:
        """Why the pipeline stopped on its own, or None while it runs as it should."""
        return self._failed

    def health(self) -> dict[str, Any]:
        """ok: connected, subscribed, and neither the pipeline nor the source has failed."""
        connected, subscribed = self.source.connected, self.source.subscribed
        failure = self._failed or self.source.failure
        alive = self._thread.is_alive() and self._committer.is_alive() and failure is None
        return {"ok": connected and subscribed and alive, "connected": connected,
                "subscribed": subscribed, "pipeline": alive, "failure": failure,
                "spool_points": self.stats.spool_points, "unacked": self.stats.unacked}

    def _create_database(self) -> None:
        reader = InfluxQL(self.settings.influx)
        try:
            reader.create_database(self.settings.influx.database)
        except InfluxError as error:
            log.warning("could not create database %r (fine on InfluxDB 2.x/3.x): %s",
                        self.settings.influx.database, error)
        finally:
            reader.close()

    def _run(self) -> None:
        try:
            next_report = self._clock.monotonic() + self.settings.quality_interval_s
            while not self._stopping.is_set() and self._failed is None:
                self._step()
                if self._clock.monotonic() >= next_report:
                    self.pipeline.report(self.settings.worker)
                    next_report += self.settings.quality_interval_s
            self._drain_inbox()
        except Exception as error:
            self._fail(error)
        finally:
            self._hand_over(None)

    def _fail(self, error: Exception) -> None:
        self._failed = f"{type(error).__name__}: {error}"
        log.exception("ingest pipeline stopped")

    def _step(self) -> None:
        wait = self.pipeline.seconds_until_due()
        self._take(_IDLE_WAIT_S if wait is None else wait)
        if self.pipeline.due():
            self._hand_over(self.pipeline.seal())
        self.stats.unacked, self.stats.oldest_unacked_s = self.pipeline.unacked()
        self.stats.connected = self.source.connected

    def _hand_over(self, batch: Batch | None) -> None:
        """Queue a sealed batch (None: the end) for the commit thread; wait while one waits."""
        while self._committer.is_alive():
            try:
                self._sealed.put(batch, timeout=_IDLE_WAIT_S)
                return
            except queue.Full:
                continue

    def _commit_loop(self) -> None:
        try:
            while True:
                try:
                    batch = self._sealed.get(timeout=_IDLE_WAIT_S)
                except queue.Empty:
                    self._store.drain()
                    continue
                if batch is None:
                    return
                self.pipeline.commit(batch)
                self._store.drain()
        except Exception as error:
            self._fail(error)

    def _take(self, wait_s: float) -> None:
        """Offer what arrives within `wait_s`, then everything waiting, until the batch is full.

        Under a backlog the messages waiting are already older than the batch delay: the
        batch still fills up to its size bounds before it is written.
        """
        if not self._waiting and not self._receive(wait_s):
            return
        while not self.pipeline.full():
            if not self._waiting and not self._receive(0.0):
                return
            self.pipeline.offer(self._waiting.popleft())

    def _receive(self, wait_s: float) -> bool:
        """Move the next received chunk to `_waiting`; False if none came within `wait_s`."""
        try:
            self._waiting.extend(self._inbox.get(timeout=wait_s) if wait_s > 0
                                 else self._inbox.get_nowait())
        except queue.Empty:
            return False
        return True

    def _drain_inbox(self) -> None:
        """On stop: seal everything already received, then the last health report."""
        while self._waiting or self._receive(0.0):
            self.pipeline.offer(self._waiting.popleft())
            if self.pipeline.full():
                self._hand_over(self.pipeline.seal())
        self.pipeline.report(self.settings.worker)
        self._hand_over(self.pipeline.seal())
