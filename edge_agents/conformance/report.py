"""The conformance report: a value object, its JSON form and its table for a terminal."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

from contract import DeviceId
from edge_agents.conformance.clauses import ClauseResult, Verdict

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.NOT_OBSERVED: "yellow"}


@dataclass(frozen=True, slots=True)
class Report:
    device: DeviceId
    broker: str
    duration_s: float
    messages: int
    clauses: tuple[ClauseResult, ...]

    @property
    def passed(self) -> bool:
        """No clause failed; a clause not observed does not fail the device."""
        return all(c.verdict is not Verdict.FAIL for c in self.clauses)

    def failed(self) -> list[str]:
        return [c.clause for c in self.clauses if c.verdict is Verdict.FAIL]

    def to_json(self) -> str:
        return json.dumps({
            "device": self.device.prefix, "broker": self.broker, "duration_s": self.duration_s,
            "messages": self.messages, "passed": self.passed, "failed": self.failed(),
            "clauses": [asdict(c) for c in self.clauses],
        }, indent=2, sort_keys=True)


def render(report: Report, console: Console) -> None:
    table = Table(title=f"Conformance of {report.device.prefix} "
                        f"({report.messages} messages in {report.duration_s:g} s)")
    for column in ("clause", "verdict", "what is checked", "detail"):
        table.add_column(column)
    for c in report.clauses:
        detail = "\n".join([c.detail, *c.evidence])
        table.add_row(c.clause, f"[{_STYLE[c.verdict]}]{c.verdict.value.upper()}[/]", c.title,
                      detail)
    console.print(table)
    verdict = "PASS" if report.passed else "FAIL: " + ", ".join(report.failed())
    console.print(f"[{'green' if report.passed else 'bold red'}]{verdict}[/]")
