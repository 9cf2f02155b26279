"""In-memory stand-ins for the gateway's ports, for unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.influx import Series
from contract.points import DEVICE_EVENT, LIFECYCLE
from gateway.core.errors import Unavailable


@dataclass
class FakeBroker:
    """Dynamic security as a dict: username -> (password, topic prefix)."""

    logins: dict[str, tuple[str, str]] = field(default_factory=dict)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise Unavailable("fake broker is down")

    def create_device(self, username: str, password: str, topic_prefix: str, *,
                      client_id: str) -> None:
        self._check()
        assert client_id == username, "device logins are pinned to their own client id"
        self.logins[username] = (password, topic_prefix)

    def delete_device(self, username: str) -> None:
        self._check()
        self.logins.pop(username, None)

    def set_password(self, username: str, password: str) -> None:
        self._check()
        self.logins[username] = (password, self.logins[username][1])


@dataclass
class FakePublisher:
    published: list[tuple[str, bytes]] = field(default_factory=list)
    down: bool = False

    def publish(self, topic: str, payload: bytes) -> None:
        if self.down:
            raise Unavailable("fake broker is down")
        self.published.append((topic, payload))


@dataclass
class FakeReader:
    """Answers every query with `series` (a `count` query, as InfluxDB would, with the
    number of values of each of them; one of `device_lifecycle` with `lifecycle`, one of
    `device_event` with `events`);
    remembers what it was asked."""

    series: list[Series] = field(default_factory=list)
    lifecycle: list[Series] = field(default_factory=list)
    events: list[Series] = field(default_factory=list)
    queries: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    error: Exception | None = None

    def query(self, q: str, params: dict[str, Any] | None = None,
              db: str | None = None) -> list[Series]:
        self.queries.append((q, params))
        if self.error:
            raise self.error
        if f'FROM "{LIFECYCLE}"' in q:
            return self.lifecycle
        if f'FROM "{DEVICE_EVENT}"' in q:
            return self.events
        if q.startswith("SELECT count("):
            return [Series(s.name, {"device": s.tags.get("device", "")}, ["time", "count"],
                           [[0, len(s.values)]]) for s in self.series]
        return self.series
