"""The HTTP gateway: devices, metrics, carbon reports and the audit ledger. See docs/gateway.md."""

from gateway.core.config import GatewaySettings
from gateway.main import create_app

__all__ = ["GatewaySettings", "create_app"]
