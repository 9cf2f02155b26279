"""The report as a document: sections of bilingual labels and figures, from build_report's
dict, the site's profile and the trend of its sub-periods. Pure.

The HTML page, the PDF and the CSV are all drawn from this one structure, so the three show
the same figures. Fields the engine may not (yet) provide are shown as not available,
never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from carbon.document import display as d
from carbon.document.display import NOT_AVAILABLE, Rule, exact
from contract.site_profile import SiteProfile

Label = tuple[str, str]
"""(简体中文, English): Chinese is printed first."""

ENTITY: Label = ("1 报告主体", "Reporting entity")
BOUNDARY: Label = ("2 核算边界", "Accounting boundary")
PERIOD: Label = ("3 报告期", "Reporting period")
METHODS: Label = ("4 核算方法与公式", "Methods and formulas")
ACTIVITY: Label = ("5 活动数据", "Activity data")
FACTORS: Label = ("6 排放因子与折标系数", "Emission factors and conversion coefficients")
EMISSIONS: Label = ("7 温室气体排放量", "Greenhouse gas emissions")
ENERGY: Label = ("8 综合能耗与强度", "Energy consumption and intensities")
AVOIDED: Label = ("9 避免排放（单独报告）", "Avoided emissions (reported separately)")
QUALITY: Label = ("10 数据质量", "Data quality")
VERIFICATION: Label = ("11 核验信息", "Verification")

QUANTITIES: dict[str, Label] = {
    "electricity_kwh": ("外购电力", "Purchased electricity"),
    "natural_gas_nm3": ("天然气", "Natural gas"),
    "diesel_kg": ("柴油", "Diesel"),
    "coke_kg": ("焦炭（还原剂）", "Coke (reductant)"),
    "input_t": ("入料量", "Material fed in"),
    "output_t": ("产出量", "Output"),
    "units": ("拆解台数", "Units dismantled"),
}
SOURCES: dict[str, Label] = {
    "co2_combustion_kg": ("化石燃料燃烧（范围一）", "Fuel combustion (Scope 1)"),
    "co2_process_kg": ("工业生产过程（范围一）", "Process (Scope 1)"),
    "co2_electricity_kg": ("外购电力（范围二，基于位置）",
                           "Purchased electricity (Scope 2, location-based)"),
    "co2_heat_kg": ("外购热力（范围二）", "Purchased heat (Scope 2)"),
}
# Carrier -> the start of its GB/T 2589 coefficient's id in the factor registry.
CARRIER_FACTORS = {"electricity_kwh": "kgce.electricity.", "natural_gas_nm3": "kgce.natural-gas.",
                   "diesel_kg": "kgce.diesel.", "coke_kg": "kgce.coke."}
METHOD_LINES: tuple[Label, ...] = (
    ("活动数据取自计量器具累计值之差（GB 17167），缺口按文件化规则补足并标记。",
     "Activity data are differences of meter registers (GB 17167); gaps are filled by "
     "documented rules and flagged."),
    ("燃烧排放 E燃烧 = Σ ADᵢ × EFᵢ，ADᵢ 为燃料消耗量，EFᵢ 见第 6 节。",
     "Combustion: E_comb = Σ ADᵢ × EFᵢ, fuel used times its CO2 factor (section 6)."),
    ("过程排放 E过程 = AD还原剂 × EF还原剂，仅在因子库有过程因子时量化，否则标记。",
     "Process: E_proc = AD_reductant × EF_reductant, only where the registry holds a process "
     "factor; otherwise flagged."),
    ("外购电力排放 E电 = AD电 × EF电网（基于位置，河南省优先，其次华中、全国）。",
     "Electricity: E_elec = AD_elec × EF_grid (location-based: Henan, then Central China, "
     "then national)."),
    ("总排放 E = E燃烧 + E过程 + E电 + E热；避免排放单独报告，不予抵扣。",
     "Total: E = E_comb + E_proc + E_elec + E_heat; avoided emissions are reported apart and "
     "never netted."),
    ("综合能耗 = Σ ADᵢ × 折标系数ᵢ（GB/T 2589-2020），电力按所注折算方法。",
     "Energy: Σ ADᵢ × coefficientᵢ in kgce (GB/T 2589-2020), electricity by the stated "
     "convention."),
    ("强度 = 排放量或能耗 ÷ 吨数（入料或产出，见各行）。",
     "Intensity = emissions or energy ÷ tonnes (fed in or produced, as stated)."),
)


@dataclass(frozen=True, slots=True)
class Figure:
    """One reported number: exact value in rule.unit, and how reliable it is."""

    section: Label
    line: str
    quantity: Label
    value: Decimal | None
    rule: Rule
    quality: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One closed sub-period (an hour of a day, a day of a month) of the site."""

    label: str
    co2_kg: Decimal | None
    energy_kgce: Decimal | None
    coverage: Decimal | None
    seq: int | None


@dataclass(frozen=True, slots=True)
class FactorRow:
    id: str
    value: str
    unit: str
    data_year: str
    document: str
    status: str
    warning: str


@dataclass(frozen=True, slots=True)
class Document:
    site: str
    period_label: str
    granularity: str
    profile: SiteProfile | None
    report: Mapping[str, Any]
    figures: tuple[Figure, ...]
    factors: tuple[FactorRow, ...]
    trend: tuple[TrendPoint, ...]

    def of(self, section: Label) -> list[Figure]:
        return [f for f in self.figures if f.section == section]

    def figure(self, section: Label, line: str, quantity: Label) -> Figure | None:
        return next((f for f in self.figures if (f.section, f.line, f.quantity)
                     == (section, line, quantity)), None)


def build_document(report: Mapping[str, Any], profile: SiteProfile | None,
                   trend: Sequence[TrendPoint] = ()) -> Document:
    quality = _site_quality(report)
    figures = [*_activity(report), *_emissions(report, quality), *_energy(report, quality),
               *_avoided(report, quality), *_quality_figures(report)]
    return Document(report["site"], report["period"]["label"], report["period"]["granularity"],
                    profile, report, tuple(figures), tuple(factor_rows(report)), tuple(trend))


def quality_block(report: Mapping[str, Any]) -> Mapping[str, Any]:
    """The engine's quality verdict block, or an empty mapping before the engine has one."""
    block = report.get("quality")
    return block if isinstance(block, Mapping) else {}


def _site_quality(report: Mapping[str, Any]) -> str:
    verdict = quality_block(report).get("verdict")
    if isinstance(verdict, str):
        return verdict
    coverage = report.get("data_quality", {}).get("coverage")
    return f"coverage {coverage}" if coverage is not None else NOT_AVAILABLE


def _activity(report: Mapping[str, Any]) -> list[Figure]:
    per = report.get("data_quality", {}).get("per_quantity", {})
    rows = []
    for key, item in report["activity_data"].items():
        label = QUANTITIES.get(key, (key, key))
        rows.append(Figure(ACTIVITY, "site", label, exact(item["value"]),
                           d.activity_rule(item["unit"]), _quantity_quality(per.get(key)),
                           "计量器具 / meter registers"))
    return rows


def _quantity_quality(item: Mapping[str, Any] | None) -> str:
    if not item:
        return "无计量 / not metered"
    if (exact(item.get("substituted")) or 0) > 0:
        return f"部分估算 / partly estimated ({item['substituted']})"
    if item.get("covered_ms") != item.get("duration_ms"):
        return "存在缺口 / gaps"
    return "实测 / measured"


def _emissions(report: Mapping[str, Any], quality: str) -> list[Figure]:
    e = report["emissions_kg"]
    s1, s2 = e["scope1"], e["scope2_location_based"]
    parts = [("co2_combustion_kg", s1["fuel_combustion"]), ("co2_process_kg", s1["process"]),
             ("co2_electricity_kg", s2["electricity"]), ("co2_heat_kg", s2["heat"])]
    rows = [Figure(EMISSIONS, "site", SOURCES[k], exact(v), d.CO2, quality) for k, v in parts]
    rows += [Figure(EMISSIONS, "site", ("范围一合计", "Scope 1 total"), exact(s1["total"]),
                    d.CO2, quality),
             Figure(EMISSIONS, "site", ("范围二合计", "Scope 2 total"), exact(s2["total"]),
                    d.CO2, quality),
             Figure(EMISSIONS, "site", ("排放总量（范围一+二）", "Total (Scope 1 + 2)"),
                    exact(e["total"]), d.CO2, quality)]
    for line in report.get("lines", []):
        rows.append(Figure(EMISSIONS, line["line"], ("产线排放量", "Line total"),
                           exact(line["values"].get("co2_total_kg")), d.CO2,
                           _line_quality(line)))
    return rows


def _line_quality(line: Mapping[str, Any]) -> str:
    coverage = line["values"].get("coverage")
    return f"coverage {coverage}" if coverage is not None else NOT_AVAILABLE


def tonnes_basis(values: Mapping[str, Any]) -> str:
    """Which tonnes the record's intensities are per: the one that reproduces its kWh/t."""
    kwh, sec = exact(values.get("electricity_kwh")), exact(values.get("sec_kwh_per_t"))
    output = exact(values.get("output_t"))
    if kwh is not None and sec is not None and output and sec == kwh / output:
        return "output_t"
    return "input_t"


def _intensities(values: Mapping[str, Any], line: str, quality: str) -> list[Figure]:
    basis = tonnes_basis(values)
    tonnes, energy = exact(values.get(basis)), exact(values.get("energy_kgce"))
    per = "入料" if basis == "input_t" else "产出"
    per_en = "fed in" if basis == "input_t" else "produced"
    kgce_per_t = energy / tonnes if energy is not None and tonnes else None
    return [
        Figure(ENERGY, line, (f"单位{per}综合能耗", f"Energy per t {per_en}"), kgce_per_t,
               d.KGCE_PER_T, quality, "derived: energy_kgce / " + basis),
        Figure(ENERGY, line, (f"单位{per}碳排放", f"CO2 per t {per_en}"),
               exact(values.get("intensity_kg_per_t")), d.CO2_PER_T, quality),
        Figure(ENERGY, line, (f"单位{per}电耗", f"Electricity per t {per_en}"),
               exact(values.get("sec_kwh_per_t")), d.KWH_PER_T, quality),
    ]


def _energy(report: Mapping[str, Any], quality: str) -> list[Figure]:
    rows = [Figure(ENERGY, "site", ("综合能耗", "Comprehensive energy consumption"),
                   exact(report["energy"]["energy_kgce"]), d.ENERGY, quality,
                   f"GB/T 2589-2020, {report['energy']['electricity_convention']}")]
    rows += _intensities(site_values(report), "site", quality)
    for line in report.get("lines", []):
        rows.append(Figure(ENERGY, line["line"], ("综合能耗", "Comprehensive energy consumption"),
                           exact(line["values"].get("energy_kgce")), d.ENERGY,
                           _line_quality(line)))
        rows += _intensities(line["values"], line["line"], _line_quality(line))
    return rows


def site_values(report: Mapping[str, Any]) -> dict[str, Any]:
    """The site-level figures of a report (build_report's dict), by the engine's names."""
    e = report["emissions_kg"]
    return {**{k: v["value"] for k, v in report["activity_data"].items()},
            "energy_kgce": report["energy"]["energy_kgce"],
            "co2_combustion_kg": e["scope1"]["fuel_combustion"],
            "co2_process_kg": e["scope1"]["process"], "co2_scope1_kg": e["scope1"]["total"],
            "co2_electricity_kg": e["scope2_location_based"]["electricity"],
            "co2_heat_kg": e["scope2_location_based"]["heat"],
            "co2_scope2_kg": e["scope2_location_based"]["total"], "co2_total_kg": e["total"],
            "avoided_co2_kg": report["avoided_emissions_kg"]["value"],
            "sec_kwh_per_t": report["energy"]["sec_kwh_per_t"],
            "intensity_kg_per_t": report["intensity_kg_per_t"],
            "coverage": report["data_quality"].get("coverage"),
            "substituted_share": report["data_quality"].get("substituted_share")}


def _avoided(report: Mapping[str, Any], quality: str) -> list[Figure]:
    rows = [Figure(AVOIDED, "site", ("相对原生生产的避免排放", "Avoided versus primary production"),
                   exact(report["avoided_emissions_kg"]["value"]), d.CO2, quality)]
    rows += [Figure(AVOIDED, line["line"], ("产线避免排放", "Line avoided emissions"),
                    exact(line["values"].get("avoided_co2_kg")), d.CO2, _line_quality(line))
             for line in report.get("lines", [])]
    return rows


def _quality_figures(report: Mapping[str, Any]) -> list[Figure]:
    block, dq = quality_block(report), report.get("data_quality", {})
    coverage = block.get("coverage", dq.get("coverage"))
    verdict = str(block.get("verdict", NOT_AVAILABLE))
    return [Figure(QUALITY, "site", ("数据覆盖率", "Data coverage"), exact(coverage),
                   d.COVERAGE, verdict),
            Figure(QUALITY, "site", ("替代数据占比", "Substituted share"),
                   exact(dq.get("substituted_share")), d.SUBSTITUTED, verdict)]


def factor_rows(report: Mapping[str, Any]) -> list[FactorRow]:
    """The engine's factor values when it gives them, else the report's factor list."""
    values = report.get("factor_values")
    items = values if isinstance(values, list) else report.get("factors", [])
    rows = []
    for f in items:
        status = str(f.get("status", "U"))
        rows.append(FactorRow(
            str(f.get("id")), str(f.get("value")), str(f.get("unit")),
            str(f["data_year"]) if f.get("data_year") is not None else "—",
            _document_of(f), status,
            "" if status == "V" else
            f"状态 {status}：未经一手来源确认 / status {status}: not confirmed in a primary "
            "source"))
    return rows


def _document_of(factor: Mapping[str, Any]) -> str:
    """Publisher, document and URL as the engine lists them (or the older citation text)."""
    if not factor.get("document"):
        return str(factor.get("citation") or NOT_AVAILABLE)
    parts = [factor.get("publisher"), factor["document"], factor.get("url")]
    return ", ".join(str(p) for p in parts if p)


def energy_by_carrier(report: Mapping[str, Any]) -> list[tuple[str, Label, Decimal]]:
    """kgce per carrier for the chart: each activity amount times its listed coefficient."""
    coefficients = {row.id: exact(row.value) for row in factor_rows(report)}
    carriers = []
    for key, prefix in CARRIER_FACTORS.items():
        amount = exact(report["activity_data"].get(key, {}).get("value"))
        factor = next((v for i, v in coefficients.items() if i.startswith(prefix)), None)
        if amount is not None and factor is not None:
            carriers.append((key, QUANTITIES[key], amount * factor))
    return carriers
