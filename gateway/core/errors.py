"""Errors the gateway's core raises; `gateway.api.problems` renders each as RFC 9457.

    GatewayError
    ├── NotFound          404: no such device or token (or not yours to see)
    ├── Conflict          409: the device is already registered
    ├── Invalid           422: a request value the schema could not catch
    └── Unavailable       503: the broker or InfluxDB did not answer or refused
"""

from __future__ import annotations


class GatewayError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class NotFound(GatewayError):
    status = 404
    title = "Not found"


class Conflict(GatewayError):
    status = 409
    title = "Conflict"


class Invalid(GatewayError):
    status = 422
    title = "Invalid request"


class Unavailable(GatewayError):
    status = 503
    title = "Service unavailable"
