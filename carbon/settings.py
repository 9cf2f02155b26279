"""Settings of the energy-carbon engine: one model, read from `LOOPMETER_CARBON_*`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.influx import InfluxSettings
from adapters.pdf import PdfSettings
from carbon.activity import Params
from carbon.canonical import digest


class CarbonSettings(BaseSettings):
    """Where the data is, how periods close and which accounting conventions apply."""

    model_config = SettingsConfigDict(env_prefix="LOOPMETER_CARBON_", env_nested_delimiter="__")

    influx: InfluxSettings = Field(
        default_factory=InfluxSettings,
        description="InfluxDB that holds `telemetry` and receives `energy_carbon`.")
    ledger_path: Path = Field(Path("./var/ledger.sqlite"),
                              description="SQLite file of the audit ledger.")
    keys_dir: Path = Field(Path("./var/keys"), description="Directory of the sites' Ed25519 "
                           "keys (`<site>.key`, `<site>.pub`) that sign closed records.")
    factors_path: Path | None = Field(None, description="Factor registry file; the shipped one "
                                      "if unset.")
    timezone: str = Field("Asia/Shanghai", description="Zone whose days and months periods follow.")
    allowed_lateness_s: int = Field(900, ge=0, description="How long after its end a period "
                                    "waits for late data before it closes.")
    horizon_s: int = Field(86_400, gt=0, description="How far before and after a period to look "
                           "for the readings that bridge its edges.")
    max_gap_s: int = Field(300, gt=0, description="Readings further apart than this are a gap "
                           "whose spread in time is estimated.")
    power_tolerance: Decimal = Field(Decimal("0.1"), ge=0, description="Alarm when counter "
                                     "energy and integrated power differ by more than this share.")
    power_floor_kwh: Decimal = Field(Decimal("1"), ge=0, description="No power alarm below this "
                                     "energy in an interval.")
    max_edge_estimate_s: int = Field(900, ge=0, description="At most this long before a "
                                     "register's first reading or after its last is "
                                     "estimated (at its nearest rate); the rest stays "
                                     "uncovered.")
    min_coverage: Decimal = Field(Decimal("0.95"), ge=0, le=1, description="A period measured "
                                  "for less than this share of its time is not fit to report.")
    max_substituted_share: Decimal = Field(Decimal("0.05"), ge=0, le=1, description="A period "
                                           "with more of its amounts substituted is not fit.")
    grid_region: str = Field("henan", description="First region of the location-based grid "
                             "factor fallback (henan, central_china, national).")
    electricity_convention: Literal["equivalent", "equal_value"] = Field(
        "equivalent", description="GB/T 2589 electricity conversion: equivalent (当量值) or "
        "equal value (等价值).")
    intensity_basis: Literal["input", "output"] = Field(
        "input", description="Tonnes that kWh/t and kg CO2/t are per: fed in or produced.")
    backfill_s: int = Field(172_800, ge=0, description="How far back `run` closes periods a "
                            "site has never closed.")
    recheck_s: int = Field(21_600, ge=0, description="How far back `run` looks for late data in "
                           "closed periods.")
    tick_s: float = Field(60.0, gt=0, description="Seconds between two passes of `run`.")
    http_port: int = Field(9310, ge=0, le=65535, description="Port of /metrics and /healthz.")
    profiles_path: Path = Field(Path("./var/sites"), description="Folder of site profiles "
                                "(<site>.yaml): the reporting entity printed on reports.")
    pdf: PdfSettings = Field(default_factory=PdfSettings,
                             description="Headless Chromium that prints reports to PDF.")

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def params(self) -> Params:
        return Params(self.max_gap_s * 1000, self.power_tolerance, self.power_floor_kwh,
                      self.max_edge_estimate_s * 1000, self.min_coverage,
                      self.max_substituted_share)

    def config_hash(self) -> str:
        """Digest of every option that changes a result (not where data lives)."""
        return digest({"timezone": self.timezone, "horizon_s": self.horizon_s,
                       "max_gap_s": self.max_gap_s, "power_tolerance": self.power_tolerance,
                       "power_floor_kwh": self.power_floor_kwh, "grid_region": self.grid_region,
                       "min_coverage": self.min_coverage,
                       "max_edge_estimate_s": self.max_edge_estimate_s,
                       "max_substituted_share": self.max_substituted_share,
                       "electricity_convention": self.electricity_convention,
                       "intensity_basis": self.intensity_basis})
