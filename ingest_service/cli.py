"""`loopmeter ingest`: run workers and inspect or replay dead letters."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer

from adapters.cli_errors import HandledGroup
from adapters.clock import SystemClock
from adapters.errors import LoopmeterError, Unreachable
from adapters.influx import PointWriter
from adapters.logs import log_json_lines
from adapters.progress import Advance, progress_bar
from ingest_service.dlq import replay as replay_letters
from ingest_service.policy import Undelivered, write_policy
from ingest_service.service import IngestService
from ingest_service.settings import IngestSettings
from ingest_service.storage import DeadLetters, open_database, worker_database

T = TypeVar("T")

app = typer.Typer(help="MQTT telemetry into InfluxDB, acknowledged only once stored.",
                  no_args_is_help=True, cls=HandledGroup, pretty_exceptions_show_locals=False)
dlq_app = typer.Typer(help="Dead letters: messages and points that could not be stored.",
                      no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

Worker = Annotated[int | None, typer.Option(min=0, max=999,
                                            help="Worker index; default: the settings' worker.")]


def _configure_logging(settings: IngestSettings) -> None:
    log_json_lines(settings.log_level, {"worker": settings.worker})


@app.command()
def run(
    workers: Annotated[int, typer.Option(min=1, help="Worker processes to run.")] = 1,
    worker: Worker = None,
) -> None:
    """Run ingest workers until SIGINT/SIGTERM; they drain and acknowledge before exiting."""
    settings = IngestSettings()
    if worker is not None:
        settings = settings.for_worker(worker)
    if workers > 1:
        if settings.subscription != "shared":
            raise typer.BadParameter("several workers need subscription=shared")
        raise typer.Exit(_run_processes(settings, workers))
    _configure_logging(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with IngestService(settings) as service:
        while not stop.wait(1.0):
            if service.failure:
                raise typer.Exit(1)


def _run_processes(settings: IngestSettings, workers: int) -> int:
    """Run workers settings.worker .. + workers - 1 as child processes; forward signals."""
    children = [subprocess.Popen([sys.executable, "-m", "ingest_service", "run", "--worker",
                                  str(settings.worker + i)]) for i in range(workers)]

    def forward(sig: int, _frame: object) -> None:
        for child in children:
            child.send_signal(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    return max(child.wait() for child in children)


@contextmanager
def _dead_letters(settings: IngestSettings, worker: int) -> Iterator[DeadLetters]:
    connection = open_database(worker_database(settings.state_dir, worker))
    try:
        yield DeadLetters.configured(connection, settings.dead_letters)
    finally:
        connection.close()


def _worker(settings: IngestSettings, worker: int | None) -> int:
    return settings.worker if worker is None else worker


@dlq_app.command("list")
def list_letters(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    worker: Worker = None,
) -> None:
    """Counts by reason, then the oldest dead letters (id, time, reason, topic, detail)."""
    settings = IngestSettings()
    with _dead_letters(settings, _worker(settings, worker)) as store:
        typer.echo(f"stored: {len(store)}  evicted: {store.evicted()}  by reason: "
                   + json.dumps(store.counts(), sort_keys=True))
        for entry in store.entries(reason, limit):
            letter = entry.letter
            when = datetime.fromtimestamp(letter.received_ms / 1000, UTC).isoformat()
            typer.echo(f"{entry.id}\t{when}\t{letter.reason}\t{letter.topic}\t"
                       f"{letter.detail[:120]}")


@dlq_app.command()
def show(entry_id: Annotated[int, typer.Argument(help="Id from `dlq list`.")],
         worker: Worker = None) -> None:
    """One dead letter in full, with its raw payload."""
    settings = IngestSettings()
    with _dead_letters(settings, _worker(settings, worker)) as store:
        entry = store.get(entry_id)
        if entry is None:
            raise LoopmeterError(f"no dead letter {entry_id}",
                                 "`loopmeter ingest dlq list` shows the ids")
        letter = entry.letter
        typer.echo(json.dumps({
            "id": entry.id, "received_ms": letter.received_ms, "topic": letter.topic,
            "kind": letter.kind, "reason": letter.reason, "detail": letter.detail,
            "truncated": entry.truncated,
            "payload": letter.payload.decode(errors="backslashreplace")}, indent=2))


@dlq_app.command()
def replay(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    worker: Worker = None,
) -> None:
    """Write every dead letter that is valid now (after a fix) and remove it.

    InfluxDB is retried for `retry.spool_after_s` (LOOPMETER_INGEST_RETRY__SPOOL_AFTER_S);
    if it is still down, nothing is removed and the command exits 3."""
    settings = IngestSettings()
    clock = SystemClock()
    with _dead_letters(settings, _worker(settings, worker)) as store, \
            PointWriter(settings.influx) as writer:
        policy = write_policy(writer, clock, settings.retry)
        letters = list(store.iterate(reason))
        try:
            with progress_bar("dead letters checked", len(letters)) as advance:
                result = replay_letters(store, _counted(letters, advance), policy,
                                        settings.influx.database, clock.now_ms(),
                                        patience_s=settings.retry.spool_after_s)
        except Undelivered as error:
            raise Unreachable(f"InfluxDB unavailable at {settings.influx.url}, no dead letter "
                              f"removed: {error}", "start it (`loopmeter services up`) and "
                              "replay again") from error
    typer.echo(f"replayed {result.replayed}, still invalid {result.still_invalid}, "
               f"rejected by InfluxDB {result.rejected}")


def _counted(items: Iterable[T], advance: Advance) -> Iterator[T]:
    """`items`, advancing the progress bar after each one is handled."""
    for item in items:
        yield item
        advance()
