"""A stand-in for the few Grafana HTTP endpoints `dashboards push` uses.

Grafana cannot be installed on the build machines, so the push is tested against this
FastAPI app, served by uvicorn on loopback in a thread. It keeps Grafana's rules that the
push relies on: bearer-token auth, folders unique by title and uid, dashboards saved by
uid, refused (412) when a uid exists and `overwrite` is false.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, FastAPI, Header, HTTPException

from tests.support.asgi import serving


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, str] = field(default_factory=dict)  # uid -> title
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> saved body
    requests: list[str] = field(default_factory=list)


def create_app(state: GrafanaState) -> FastAPI:
    def authorised(authorization: str = Header("")) -> None:
        if authorization != f"Bearer {state.token}":
            raise HTTPException(401, "invalid API key")

    app = FastAPI(dependencies=[Depends(authorised)])

    @app.get("/api/folders")
    def folders() -> list[dict[str, Any]]:
        state.requests.append("GET /api/folders")
        return [{"uid": uid, "title": title} for uid, title in state.folders.items()]

    @app.post("/api/folders")
    def create_folder(body: dict[str, Any]) -> dict[str, Any]:
        state.requests.append("POST /api/folders")
        if body["title"] in state.folders.values():
            raise HTTPException(409, "a folder with that name already exists")
        uid = body.get("uid") or f"folder{len(state.folders) + 1}"
        state.folders[uid] = body["title"]
        return {"uid": uid, "title": body["title"]}

    @app.post("/api/dashboards/db")
    def save(body: dict[str, Any]) -> dict[str, Any]:
        state.requests.append("POST /api/dashboards/db")
        uid = body["dashboard"]["uid"]
        if uid in state.dashboards and not body.get("overwrite"):
            raise HTTPException(412, "a dashboard with the same uid already exists")
        if body.get("folderUid") not in state.folders:
            raise HTTPException(400, "folder not found")
        state.dashboards[uid] = body
        return {"uid": uid, "status": "success", "version": 1}

    return app


@contextmanager
def serve(state: GrafanaState) -> Iterator[str]:
    """Serve the fake on a free loopback port; yield its base URL."""
    with serving(create_app(state), lifespan="off") as url:
        yield url
