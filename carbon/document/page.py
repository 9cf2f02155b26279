"""The report as a printable, bilingual HTML page (Chinese first); the PDF prints this. Pure.

Static: inline CSS and SVG only, no script and no remote resource, so the gateway can serve it
under `default-src 'none'`. Running header (site and period) and page numbers come from CSS
@page margin boxes, which Chromium prints.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from carbon.document import charts
from carbon.document import display as d
from carbon.document.content import (
    ACTIVITY,
    AVOIDED,
    BOUNDARY,
    EMISSIONS,
    ENERGY,
    ENTITY,
    FACTORS,
    METHOD_LINES,
    METHODS,
    PERIOD,
    QUALITY,
    SOURCES,
    VERIFICATION,
    Document,
    Figure,
    Label,
    energy_by_carrier,
    quality_block,
)
from carbon.document.display import NOT_AVAILABLE

TITLE: Label = ("温室气体排放与能源消耗报告", "Greenhouse gas emissions and energy report")
BOUNDARY_ZH = ("报告主体为本场站的生产系统（主要生产、辅助生产及直接为生产服务的附属生产系统），"
               "以接入 Loopmeter 协议的计量设备为准；冗余产线表计仅用于补缺（GB/T 32150-2015）。")
DOMAINS: dict[str, Label] = {
    "construction_waste": ("建筑垃圾资源化", "Construction waste"),
    "recycled_metals": ("再生金属", "Recycled metals"),
    "waste_batteries": ("废旧电池回收", "Waste batteries"),
    "waste_appliances": ("废旧家电拆解", "Waste appliances"),
    "mixed": ("多领域", "Mixed"),
}
SHORT: dict[str, Label] = {
    "co2_combustion_kg": ("燃料燃烧", "combustion"), "co2_process_kg": ("过程", "process"),
    "co2_electricity_kg": ("外购电力", "electricity"), "co2_heat_kg": ("外购热力", "heat"),
    "electricity_kwh": ("电力", "electricity"), "natural_gas_nm3": ("天然气", "natural gas"),
    "diesel_kg": ("柴油", "diesel"), "coke_kg": ("焦炭", "coke")}
"""Chart labels: a bar's label must fit beside it."""
GRANULARITIES: dict[str, Label] = {"15m": ("15 分钟", "15 minutes"), "1h": ("小时", "hour"),
                                   "1d": ("日", "day"), "1mo": ("月", "month"),
                                   "days": ("多日合计", "run of days, summed"),
                                   "months": ("多月合计", "run of months, summed")}
VERDICTS: dict[str, Label] = {"complete": ("完整", "complete"),
                              "estimated": ("含估算", "estimated"),
                              "not_fit": ("不适于报送", "not fit for reporting")}
STYLE = """
@page { size: A4; margin: 20mm 14mm 18mm 14mm;
  @top-left { content: "@HEADER@"; font-size: 8pt; color: #444; }
  @top-right { content: "Loopmeter"; font-size: 8pt; color: #444; }
  @bottom-center { content: "第 " counter(page) " 页 / 共 " counter(pages) " 页 · page "
                   counter(page) " of " counter(pages); font-size: 8pt; color: #444; } }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", sans-serif;
  font-size: 10pt; color: #111; max-width: 190mm; margin: 0 auto; }
h1 { font-size: 16pt; margin: 0 0 2mm; } h1 small { display: block; font-size: 11pt;
  font-weight: normal; color: #333; }
h2 { font-size: 12pt; border-bottom: 1px solid #1f5f8b; margin: 6mm 0 2mm;
  break-after: avoid; } h2 small { font-weight: normal; color: #444; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm; break-inside: auto; }
th, td { border: 1px solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eef3f7; font-weight: 600; } td.n { text-align: right;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
tr { break-inside: avoid; } .warn { color: #a00; } .muted { color: #666; }
.en { color: #444; } .hash { font-family: monospace; font-size: 8pt; word-break: break-all; }
svg.chart { display: block; margin: 2mm 0; max-width: 100%; height: auto; break-inside: avoid; }
.hours td { text-align: center; width: 4%; padding: 0.5mm; font-size: 8pt; }
.hours td.gap { background: #f4c7c3; } .hours td.ok { background: #d9ead3; }
.verdict { font-weight: 700; } code { white-space: pre-wrap; word-break: break-all; }
"""


def bi(label: Label) -> str:
    return f'{html.escape(label[0])} <span class="en">/ {html.escape(label[1])}</span>'


def _h2(label: Label) -> str:
    return f"<h2>{html.escape(label[0])} <small>/ {html.escape(label[1])}</small></h2>"


def _table(head: Sequence[Label | str], rows: Iterable[Sequence[str]],
           numeric: Sequence[int] = ()) -> str:
    cells = "".join(f"<th>{bi(h) if isinstance(h, tuple) else html.escape(h)}</th>"
                    for h in head)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
        for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _e(value: object) -> str:
    return html.escape(NOT_AVAILABLE if value is None or value == "" else str(value))


def _local(ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M %Z")


def render_html(doc: Document, zone: ZoneInfo, recompute_command: str) -> str:
    header = f"{doc.site} · {doc.period_label}".replace("\\", "\\\\").replace('"', '\\"')
    name = doc.profile.name_zh if doc.profile else doc.site
    title = f"{TITLE[0]} / {TITLE[1]} — {name} {doc.period_label}"
    body = "\n".join([
        f"<h1>{html.escape(TITLE[0])}<small>{html.escape(TITLE[1])} · "
        f"{html.escape(name)} · {html.escape(doc.period_label)}</small></h1>",
        f'<p class="muted">Energy and carbon report {html.escape(doc.site)} '
        f"{html.escape(doc.period_label)} · "
        f"{html.escape(str(doc.report.get('standard', '')))}</p>",
        _summary(doc), _entity(doc), _boundary(doc), _period(doc, zone), _methods(), _activity(doc),
        _factors(doc), _emissions(doc), _energy(doc), _avoided(doc), _quality(doc),
        _verification(doc, recompute_command)])
    return (f'<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{STYLE.replace('@HEADER@', header)}</style>"
            f"</head><body>\n{body}\n</body></html>\n")


def _summary(doc: Document) -> str:
    """Page 1's key figures, as an auditor looks for them first."""
    keys = [(EMISSIONS, ("排放总量（范围一+二）", "Total (Scope 1 + 2)")),
            (EMISSIONS, ("范围一合计", "Scope 1 total")),
            (EMISSIONS, ("范围二合计", "Scope 2 total")),
            (ENERGY, ("综合能耗", "Comprehensive energy consumption")),
            (QUALITY, ("数据覆盖率", "Data coverage"))]
    cells = [(bi(q), d.shown_with_unit(f.value, f.rule)) for s, q in keys
             for f in [doc.figure(s, "site", q)] if f is not None]
    verdict = quality_block(doc.report).get("verdict")
    cells.append((bi(("质量结论", "Quality verdict")),
                  bi(VERDICTS[verdict]) if verdict in VERDICTS else _e(None)))
    return _table((("关键数据", "Key figures"), ("数值", "Value")), cells, (1,))


def _entity(doc: Document) -> str:
    p = doc.profile
    if p is None:
        return _h2(ENTITY) + (f'<p class="warn">未提供站点档案 / No site profile for '
                              f"{html.escape(doc.site)}: the operator fills in "
                              f"{html.escape(doc.site)}.yaml in the profiles folder "
                              "(see docs/carbon.md).</p>")
    domain = DOMAINS.get(p.domain.value, (p.domain.value, p.domain.value))
    rows = [(bi(("单位名称", "Name")), _e(f"{p.name_zh}" + (f" / {p.name_en}" if p.name_en
                                                                   else ""))),
            (bi(("统一社会信用代码", "Unified social credit code")), _e(p.uscc)),
            (bi(("地址", "Address")), _e(f"{p.province}{p.city} {p.address}")),
            (bi(("所在地市", "City")), _e(f"{p.city} / {p.city_en}")),
            (bi(("行业（GB/T 4754-2017）", "Industry (GB/T 4754-2017)")),
             _e(f"{p.industry_code} {p.industry}")),
            (bi(("资源循环领域", "Recycling domain")), bi(domain)),
            (bi(("联系人", "Contact")), _e(f"{p.contact.name}, {p.contact.phone}"
                                           + (f", {p.contact.email}" if p.contact.email
                                              else ""))),
            (bi(("站点标识", "Site id")), _e(doc.site))]
    return _h2(ENTITY) + _table((("项目", "Item"), ("内容", "Entry")), rows)


def _boundary(doc: Document) -> str:
    sources = doc.report.get("sources", {})
    items = "".join(f"<li>{html.escape(k)}: {html.escape(str(v))}</li>"
                    for k, v in sources.items())
    return (_h2(BOUNDARY) + f"<p>{html.escape(BOUNDARY_ZH)}</p>"
            f'<p class="en">{_e(doc.report.get("boundary"))}</p><ul>{items}</ul>')


def _period(doc: Document, zone: ZoneInfo) -> str:
    period = doc.report["period"]
    kind = GRANULARITIES.get(doc.granularity, (doc.granularity, doc.granularity))
    rows = [(bi(("报告期", "Period")), _e(doc.period_label)),
            (bi(("周期类型", "Granularity")), bi(kind)),
            (bi(("起始（含）", "From (inclusive)")), _e(_local(period["start_ms"], zone))),
            (bi(("截止（不含）", "To (exclusive)")), _e(_local(period["end_ms"], zone)))]
    return _h2(PERIOD) + _table((("项目", "Item"), ("内容", "Entry")), rows)


def _methods() -> str:
    return _h2(METHODS) + "<ol>" + "".join(
        f'<li>{html.escape(zh)}<br><span class="en">{html.escape(en)}</span></li>'
        for zh, en in METHOD_LINES) + "</ol>"


def _activity(doc: Document) -> str:
    rows = [(bi(f.quantity), d.shown(f.value, f.rule), _e(f.rule.shown_unit), _e(f.source),
             _e(f.quality)) for f in doc.of(ACTIVITY)]
    return _h2(ACTIVITY) + _table((("项目", "Quantity"), ("数值", "Value"), ("单位", "Unit"),
                                   ("来源", "Source"), ("质量", "Quality")), rows, (1,))


def _factors(doc: Document) -> str:
    rows = [(f'<span class="hash">{_e(r.id)}</span>', _e(r.value), _e(r.unit), _e(r.data_year),
             _e(r.document), f'<span class="{"warn" if r.warning else ""}">{_e(r.status)}'
             + (f"<br>{_e(r.warning)}" if r.warning else "") + "</span>")
            for r in doc.factors]
    grid = doc.report.get("grid_factor", {})
    note = (f'<p>{bi(("电网因子选择", "Grid factor chosen"))}: {_e(grid.get("factor_id"))}; '
            f'{bi(("依次尝试", "regions tried"))}: {_e(", ".join(grid.get("tried", [])))}</p>')
    return _h2(FACTORS) + _table((("标识", "Id"), ("数值", "Value"), ("单位", "Unit"),
                                  ("数据年份", "Data year"), ("文件", "Document"),
                                  ("状态", "Status")), rows, (1,)) + note


def _figure_rows(figures: Iterable[Figure]) -> list[tuple[str, ...]]:
    return [(_e(f.line), bi(f.quantity), d.shown(f.value, f.rule), _e(f.rule.shown_unit),
             bi(VERDICTS[f.quality]) if f.quality in VERDICTS else _e(f.quality))
            for f in figures]


FIGURE_HEAD: tuple[Label, ...] = (("范围", "Line"), ("项目", "Quantity"), ("数值", "Value"),
                                  ("单位", "Unit"), ("质量", "Quality"))


def _emissions(doc: Document) -> str:
    by_source = [(f"{SHORT[k][0]} / {SHORT[k][1]}", f.value or Decimal(0),
                  d.shown_with_unit(f.value, d.CO2))
                 for k, v in SOURCES.items()
                 for f in [doc.figure(EMISSIONS, "site", v)] if f is not None]
    trend = [(_short(p.label), p.co2_kg / 1000 if p.co2_kg is not None else None)
             for p in doc.trend]
    return (_h2(EMISSIONS) + _table(FIGURE_HEAD, _figure_rows(doc.of(EMISSIONS)), (2,))
            + charts.bars("按排放源的 CO2 / CO2 by source", by_source)
            + (charts.columns(f"CO2 趋势 / CO2 trend ({_unit_of(doc)})", "t CO2", trend)
               + _trend_table(doc) if doc.trend else ""))


def _trend_table(doc: Document) -> str:
    if all(p.seq is None for p in doc.trend):
        return ""  # the chart above already says that none is closed
    rows = [(_e(p.label), d.shown(p.co2_kg, d.CO2), d.shown(p.energy_kgce, d.ENERGY),
             d.shown(p.coverage, d.COVERAGE),
             _e(p.seq if p.seq is not None else "未结算 / not closed"))
            for p in doc.trend]
    return _table((("子周期", "Sub-period"), ("排放 t CO2", "CO2 t"), ("能耗 tce", "Energy tce"),
                   ("覆盖率 %", "Coverage %"), ("账本序号", "Ledger seq")), rows, (1, 2, 3))


def _energy(doc: Document) -> str:
    carriers = [(f"{SHORT[key][0]} / {SHORT[key][1]}", kgce, d.shown_with_unit(kgce, d.ENERGY))
                for key, _, kgce in energy_by_carrier(doc.report)]
    trend = [(_short(p.label), p.energy_kgce / 1000 if p.energy_kgce is not None else None)
             for p in doc.trend]
    return (_h2(ENERGY) + f'<p class="muted">{bi(("电力折标", "Electricity convention"))}: '
            f'{_e(doc.report["energy"].get("electricity_convention"))}</p>'
            + _table(FIGURE_HEAD, _figure_rows(doc.of(ENERGY)), (2,))
            + _enpi(doc.report.get("enpi"))
            + charts.bars("按能源品种的综合能耗 / Energy by carrier (tce)", carriers)
            + (charts.columns(f"能耗趋势 / Energy trend ({_unit_of(doc)})", "tce", trend)
               if doc.trend else ""))


ENPI: dict[str, Label] = {
    "ratio_kwh_per_t": ("单位电耗 kWh/t", "kWh per tonne"),
    "denominator": ("分母", "Denominator"), "baseline_period": ("基准期", "Baseline period"),
    "baseline_days": ("基准天数", "Baseline days"),
    "fixed_kwh_per_day": ("固定负荷 kWh/日", "Fixed load, kWh/day"),
    "variable_kwh_per_t": ("变动负荷 kWh/t", "Variable load, kWh/t"),
    "r_squared": ("决定系数 R²", "R²"), "expected_kwh": ("预期电耗 kWh", "Expected kWh"),
    "index": ("能效指数（实际/预期）", "EnPI index (actual / expected)"),
    "regression": ("回归", "Regression"),
}


def _enpi(section: object) -> str:
    """ISO 50006 EnPI against a baseline (`--baseline`), exact as computed."""
    if not isinstance(section, Mapping):
        return ""
    rows = [(bi(ENPI.get(k, (k, k))), _e(v)) for k, v in section.items()]
    return (f"<p>{bi(('能源绩效参数（ISO 50006）', 'Energy performance indicator (ISO 50006)'))}"
            "</p>" + _table((("项目", "Item"), ("数值", "Value")), rows))


def _avoided(doc: Document) -> str:
    note = doc.report.get("avoided_emissions_kg", {}).get("note", "")
    return (_h2(AVOIDED) + "<p>不计入排放总量，不予抵扣。" + f'<span class="en"> {_e(note)}'
            "</span></p>" + _table(FIGURE_HEAD, _figure_rows(doc.of(AVOIDED)), (2,)))


def _quality(doc: Document) -> str:
    block, dq = quality_block(doc.report), doc.report.get("data_quality", {})
    verdict = block.get("verdict")
    shown = bi(VERDICTS[verdict]) if verdict in VERDICTS else _e(None)
    reasons = block.get("reasons")
    parts = [_h2(QUALITY), f'<p>{bi(("质量结论", "Verdict"))}: <span class="verdict">{shown}'
             "</span></p>",
             f'<p>{bi(("原因", "Reasons"))}: '
             f'{_e("; ".join(map(str, reasons)) if isinstance(reasons, list) else None)}</p>',
             _table(FIGURE_HEAD, _figure_rows(doc.of(QUALITY)), (2,)),
             _hours(doc),
             _list_table(("替代数据", "Substitutions"), block.get("substitutions"),
                         ("device", "method", "amount", "unit")),
             _list_table(("计量事件", "Meter events"), dq.get("meter_events"),
                         ("device", "ts", "metric", "event", "detail")),
             _list_table(("异常", "Anomalies"), block.get("anomalies"),
                         ("device", "kind", "count")),
             f'<p>{bi(("标记", "Flags"))}: {_e(", ".join(dq.get("flags", [])))}</p>']
    if doc.trend:
        parts.append(charts.columns(f"数据覆盖率 / Coverage ({_unit_of(doc)})", "%", [
            (_short(p.label), p.coverage * 100 if p.coverage is not None else None)
            for p in doc.trend], ceiling=Decimal(100)))
    return "".join(parts)


def missing_hours(doc: Document) -> list[int] | None:
    """Hours of a day with gaps: the engine's list, else hours whose record is short or absent."""
    listed = quality_block(doc.report).get("missing_hours")
    if isinstance(listed, list):
        return sorted(int(h) for h in listed)
    if doc.granularity != "1d" or not doc.trend:
        return None
    return [i for i, p in enumerate(doc.trend) if p.coverage is None or p.coverage < 1]


def _hours(doc: Document) -> str:
    if doc.granularity != "1d":
        return ""
    gaps = missing_hours(doc)
    title = f'<p>{bi(("逐小时缺口", "Hourly gaps"))}: '
    if gaps is None:
        return title + f"{_e(None)}</p>"
    cells = "".join(f'<td class="{"gap" if h in gaps else "ok"}">{h:02d}</td>'
                    for h in range(24))
    listed = ", ".join(f"{h:02d}" for h in gaps) or "无 / none"
    return title + f'{html.escape(listed)}</p><table class="hours"><tr>{cells}</tr></table>'


def _list_table(label: Label, items: object, keys: Sequence[str]) -> str:
    title = f"<p>{bi(label)}: "
    if not isinstance(items, list):
        return title + f"{_e(None)}</p>"
    if not items:
        return title + "无 / none</p>"
    rows = [[_e(item.get(k)) if isinstance(item, Mapping) else _e(item) for k in keys]
            for item in items]
    return title + "</p>" + _table(keys, rows)


def _verification(doc: Document, recompute_command: str) -> str:
    ledger: Mapping[str, Any] = doc.report.get("ledger", {})
    check = doc.report.get("verification")
    check = check if isinstance(check, Mapping) else {}
    own = ledger.get("seq")
    seqs = sorted({p.seq for p in doc.trend if p.seq is not None}
                  | ({own} if isinstance(own, int) else set())
                  | {r["seq"] for r in ledger.get("records", []) if isinstance(r.get("seq"), int)})
    span = f"{seqs[0]}–{seqs[-1]}" if len(seqs) > 1 else (str(seqs[0]) if seqs else None)
    rows = [(bi(("记录哈希", "Record hash")), f'<span class="hash">{_e(ledger.get("record_hash"))}'
             "</span>"),
            (bi(("账本序号", "Ledger sequence")), _e(ledger.get("seq"))),
            (bi(("涉及序号范围", "Sequence range covered")), _e(span)),
            (bi(("记录类型", "Record kind")), _e(ledger.get("kind"))),
            (bi(("替代记录", "Supersedes")), _e(ledger.get("supersedes") or "—")),
            (bi(("链校验", "Chain check")), _e(check.get("chain"))),
            (bi(("签名", "Signature")), _e(check.get("signature"))),
            (bi(("链头哈希", "Chain head hash")), f'<span class="hash">{_e(check.get("head_hash"))}'
             "</span>"),
            (bi(("输入摘要", "Inputs digest")), f'<span class="hash">'
             f'{_e(ledger.get("inputs_digest"))}</span>'),
            (bi(("配置哈希", "Configuration hash")), f'<span class="hash">'
             f'{_e(ledger.get("config_hash"))}</span>'),
            (bi(("软件版本", "Software version")), _e(ledger.get("code_version"))),
            (bi(("因子库版本", "Factor registry version")), _e(ledger.get("registry_version"))),
            (bi(("复算命令", "Recompute command")), f"<code>{html.escape(recompute_command)}"
             "</code>")]
    return (_h2(VERIFICATION) + _derivation(doc)
            + _table((("项目", "Item"), ("内容", "Entry")), rows) + _records(ledger))


def _derivation(doc: Document) -> str:
    text = doc.report.get("derivation")
    if not text:
        return ""
    return (f"<p>本报告为所列账本记录之和，未从原始数据重新计算。"
            f'<br><span class="en">{_e(text)}</span></p>')


def _records(ledger: Mapping[str, Any]) -> str:
    """The records a span report sums: each part's sequence number and hash."""
    records = ledger.get("records")
    if not isinstance(records, list):
        return ""
    rows = [(_e(r.get("period")), _e(r.get("seq")), _e(r.get("kind")),
             f'<span class="hash">{_e(r.get("record_hash"))}</span>') for r in records]
    return _table((("子周期", "Part"), ("序号", "Seq"), ("类型", "Kind"),
                   ("记录哈希", "Record hash")), rows)


def _unit_of(doc: Document) -> str:
    if doc.granularity == "1d":
        return "按小时 / by hour"
    return "按月 / by month" if doc.granularity == "months" else "按日 / by day"


def _short(label: str) -> str:
    """A sub-period's axis label: the hour of a day, the day of a month."""
    return label.rsplit("T", 1)[-1] if "T" in label else label.rsplit("-", 1)[-1]
