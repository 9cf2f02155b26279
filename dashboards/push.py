"""Upload the dashboards into a Grafana folder through the HTTP API, idempotently.

The folder is found by title or created; each dashboard is saved by uid with overwrite,
so pushing twice leaves Grafana as pushing once did. grafana-client's exceptions are
translated here into `PushError`; nothing else sees them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaException
from pydantic import SecretStr

from adapters.errors import LoginRefused, LoopmeterError, Unreachable

COMMIT_MESSAGE = "Pushed by loopmeter dashboards push"


class PushError(LoopmeterError):
    """Grafana refused a request or could not be reached."""


class GrafanaUnreachable(PushError, Unreachable):
    default_hint = "is Grafana running at that URL (--url or LOOPMETER_GRAFANA_URL)?"


class PushRefused(PushError, LoginRefused):
    default_hint = ("use a service-account token with editor rights (--token or "
                    "LOOPMETER_GRAFANA_TOKEN)")


class DashboardStore(Protocol):
    """The few Grafana operations a push needs."""

    def find_folder(self, title: str) -> str | None:
        """The uid of the top-level folder called `title`, if there is one."""

    def create_folder(self, title: str) -> str:
        """Create a top-level folder; return its uid."""

    def save_dashboard(self, dashboard: dict[str, Any], folder_uid: str) -> None:
        """Create or overwrite the dashboard with the same uid, in the folder."""


@dataclass(frozen=True, slots=True)
class PushResult:
    folder_uid: str
    created_folder: bool
    dashboards: tuple[str, ...]


def push(store: DashboardStore, dashboards: Sequence[dict[str, Any]], folder: str) -> PushResult:
    """Put every dashboard into `folder`, creating the folder if it is missing."""
    existing = store.find_folder(folder)
    folder_uid = existing or store.create_folder(folder)
    for dashboard in dashboards:
        # Grafana matches by uid; a numeric id would tie the file to one Grafana instance.
        store.save_dashboard({**dashboard, "id": None}, folder_uid)
    return PushResult(folder_uid, existing is None, tuple(d["uid"] for d in dashboards))


class GrafanaStore:
    """`DashboardStore` over grafana-client, authenticated with a service-account token."""

    def __init__(self, url: str, token: SecretStr, timeout_s: float = 10.0) -> None:
        self._api = GrafanaApi.from_url(url, credential=token.get_secret_value(),
                                        timeout=timeout_s)

    def close(self) -> None:
        # grafana-client opens a connection pool and offers no close of its own.
        self._api.client.s.close()

    def __enter__(self) -> GrafanaStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def find_folder(self, title: str) -> str | None:
        with _translated():
            folders: list[dict[str, Any]] = self._api.folder.get_all_folders()
        return next((str(f["uid"]) for f in folders if f.get("title") == title), None)

    def create_folder(self, title: str) -> str:
        with _translated():
            created: dict[str, Any] = self._api.folder.create_folder(title)
        return str(created["uid"])

    def save_dashboard(self, dashboard: dict[str, Any], folder_uid: str) -> None:
        with _translated():
            self._api.dashboard.update_dashboard({
                "dashboard": dashboard, "folderUid": folder_uid, "overwrite": True,
                "message": COMMIT_MESSAGE})


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except GrafanaException as error:
        if error.status_code in (401, 403):
            raise PushRefused(f"Grafana refused the token ({error.status_code}): "
                              f"{error.message}") from error
        raise PushError(f"Grafana answered {error.status_code}: {error.message}") from error
    except OSError as error:
        raise GrafanaUnreachable(f"Grafana unreachable: {_reason(error)}") from error


def _reason(error: OSError) -> str:
    """The innermost cause (`Connection refused`), not urllib3's pool and retry wrapping."""
    cause: BaseException = error
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    return str(getattr(cause, "strerror", None) or cause)
