"""InfluxDB adapter: writes via influxdb-client to `/api/v2/write`, reads InfluxQL on `/query`.

That pair works on InfluxDB 1.8+, 2.7+ and 3.x. influxdb-client's and httpx's exceptions are
translated here, once, into the small hierarchy below; nothing else sees them.

    InfluxError
    ├── WriteRejected    400/422: the server refused some points; retrying cannot help
    ├── BatchTooLarge    413: split the batch and try again
    ├── Throttled        429/503: try again after `retry_after_s`
    ├── Unavailable      other 5xx, timeouts, refused connections: retry with backoff
    └── QueryFailed      an InfluxQL statement returned an error
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from pydantic import BaseModel, Field, SecretStr
from urllib3.exceptions import HTTPError as Urllib3Error

from adapters import errors
from adapters.local_services import default_influx_url
from contract import Point, line_protocol


class InfluxSettings(BaseModel):
    """Where InfluxDB is; the defaults match `loopmeter services up`."""

    url: str = Field(default_factory=default_influx_url,
                     description="Base URL of InfluxDB; default: the one of `loopmeter "
                                 "services up` (port 18086 unless it was given another).")
    token: SecretStr = Field(SecretStr(""),
                             description="API token (InfluxDB 2.x/3.x); empty for 1.x.")
    org: str = Field("loopmeter", description="Organisation (InfluxDB 2.x); ignored by 1.x.")
    database: str = Field("loopmeter", description="Database (1.x) or bucket with a DBRP mapping.")
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one HTTP request, in seconds.")


class InfluxError(errors.LoopmeterError):
    """Base of every InfluxDB failure the rest of Loopmeter sees."""


class WriteRejected(InfluxError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"InfluxDB rejected the write ({status}): {message}")


class BatchTooLarge(InfluxError):
    pass


class Throttled(InfluxError):
    def __init__(self, retry_after_s: float | None, message: str) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class Unavailable(InfluxError, errors.Unreachable):
    pass


class QueryFailed(InfluxError):
    pass


def _server_message(body: str | bytes | None) -> str:
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(parsed, dict):
        return str(parsed.get("error") or parsed.get("message") or text).strip()
    return text.strip()


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify_write_error(status: int, body: str | bytes | None, headers: Any = None) -> InfluxError:
    """Map an HTTP status of a write to the error that says what to do about it."""
    message = _server_message(body)
    if status in (400, 422):
        return WriteRejected(status, message)
    if status == 413:
        return BatchTooLarge(message or "request entity too large")
    if status in (429, 503):
        return Throttled(_retry_after(headers), f"InfluxDB throttled the write ({status})")
    return Unavailable(f"InfluxDB write failed ({status}): {message}")


class PointWriter:
    """Synchronous writes of line protocol; batching and retries belong to the caller."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        self._client = InfluxDBClient(
            url=settings.url, token=settings.token.get_secret_value() or "-", org=settings.org,
            timeout=int(settings.timeout_s * 1000), retries=False, enable_gzip=False)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def write_lines(self, lines: Sequence[str], database: str | None = None) -> None:
        """Write line protocol with millisecond timestamps; raise an InfluxError on failure."""
        if not lines:
            return
        with _translated_write_errors(self._settings.url):
            self._write_api.write(bucket=database or self._settings.database,
                                  org=self._settings.org, record="\n".join(lines),
                                  write_precision=WritePrecision.MS)  # type: ignore[arg-type]

    def write(self, points: Sequence[Point], database: str | None = None) -> None:
        self.write_lines([line_protocol(p) for p in points], database)

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    def __enter__(self) -> PointWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextmanager
def _translated_write_errors(url: str) -> Iterator[None]:
    try:
        yield
    except ApiException as error:
        raise classify_write_error(error.status or 0, error.body, error.headers) from error
    except (Urllib3Error, OSError) as error:
        raise Unavailable(f"InfluxDB unreachable at {url}: {error}") from error


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts, with the series' tags merged in."""
        return [{**self.tags, **dict(zip(self.columns, row, strict=True))} for row in self.values]


class InfluxQL:
    """InfluxQL over HTTP. Values are bound as parameters, never pasted into the query text."""

    def __init__(self, settings: InfluxSettings, client: httpx.Client | None = None) -> None:
        self._settings = settings
        token = settings.token.get_secret_value()
        self._client = client or httpx.Client(
            base_url=settings.url, timeout=settings.timeout_s,
            headers={"Authorization": f"Token {token}"} if token else {})

    def query(self, q: str, params: dict[str, Any] | None = None,
              db: str | None = None) -> list[Series]:
        """Run read statements; return every series of every statement, in order."""
        form = {"q": q, "db": db or self._settings.database, "epoch": "ms"}
        if params:
            form["params"] = json.dumps(params)
        return self._series(self._request("GET", form))

    def execute(self, q: str, db: str | None = None) -> None:
        """Run a statement that changes the server, such as CREATE DATABASE."""
        form = {"q": q}
        if db:
            form["db"] = db
        self._series(self._request("POST", form))

    def create_database(self, name: str) -> None:
        self.execute(f"CREATE DATABASE {quote_identifier(name)}")

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE {quote_identifier(name)}")

    def ping(self) -> bool:
        try:
            return self._client.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> InfluxQL:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, form: dict[str, str]) -> dict[str, Any]:
        try:
            if method == "GET":
                response = self._client.get("/query", params=form)
            else:
                response = self._client.post("/query", data=form)
        except httpx.HTTPError as error:
            raise Unavailable(f"InfluxDB unreachable at {self._settings.url}: {error}") from error
        if response.status_code >= 500:
            raise Unavailable(f"InfluxDB query failed ({response.status_code})")
        body: dict[str, Any] = response.json() if response.content else {}
        if response.status_code >= 400 or "error" in body:
            raise QueryFailed(_server_message(response.content))
        return body

    @staticmethod
    def _series(body: dict[str, Any]) -> list[Series]:
        series: list[Series] = []
        for result in body.get("results", []):
            if "error" in result:
                raise QueryFailed(result["error"])
            series.extend(Series(s.get("name", ""), s.get("tags") or {}, s["columns"], s["values"])
                          for s in result.get("series", []))
        return series


def quote_identifier(name: str) -> str:
    """Quote an InfluxQL identifier (database, measurement, tag key)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
