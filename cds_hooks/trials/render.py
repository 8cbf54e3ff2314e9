"""A trial definition as Markdown, for the investigator to review and sign off."""

from __future__ import annotations

from typing import Any

from cds_hooks.trials.model import CriterionDefinition, TrialDefinition
from cds_hooks.trials.params import (
    AgeRange,
    AllOf,
    AnyOf,
    FirstDecided,
    LabThreshold,
    LabUlnMultiple,
    Not,
    OrderedCategory,
    ReportNumber,
    RuleParams,
    StudyTeam,
    When,
)

_OP = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


def _num(value: float) -> str:
    return f"{value:g}"


def describe(rule: RuleParams) -> str:
    """One line of plain words for a rule (nested rules in brackets)."""
    if isinstance(rule, AllOf):
        return "all of [" + "; ".join(describe(r) for r in rule.rules) + "]"
    if isinstance(rule, AnyOf):
        return "any of [" + "; ".join(describe(r) for r in rule.rules) + "]"
    if isinstance(rule, FirstDecided):
        return "first that decides of [" + "; ".join(describe(r) for r in rule.rules) + "]"
    if isinstance(rule, Not):
        return f"not [{describe(rule.rule)}]"
    if isinstance(rule, When):
        return (
            f"when [{describe(rule.condition)}] then [{describe(rule.then)}], "
            f"otherwise {rule.otherwise} ({rule.otherwise_text})"
        )
    if isinstance(rule, StudyTeam):
        return f"**needs the study team**: {rule.reason}"
    if isinstance(rule, AgeRange):
        top = f"–{rule.max}" if rule.max is not None else "+"
        return f"age {rule.min}{top} years"
    if isinstance(rule, LabThreshold | ReportNumber):
        where = (
            f" (component `{rule.component}`)"
            if isinstance(rule, LabThreshold) and rule.component
            else ""
        )
        text = f"{rule.label} {_OP[rule.op]} {_num(rule.value)} {rule.unit}{where}"
        if isinstance(rule, ReportNumber):
            text += f", else read from a {rule.modality} report before “{rule.anchor}”"
        return text
    if isinstance(rule, LabUlnMultiple):
        return f"{rule.label} ≤ {_num(rule.max_multiple)} × ULN"
    if isinstance(rule, OrderedCategory):
        span = rule.min if rule.min == rule.max else f"{rule.min}–{rule.max}"
        return f"{rule.label} within {span}"
    label = getattr(rule, "label", rule.type)
    extra: list[str] = []
    absence = getattr(rule, "absence", None)
    if absence is not None:
        extra.append(
            "no record clears it" if absence == "not_met" else "no record leaves it unknown"
        )
    return f"{rule.type.replace('_', ' ')}: {label}" + (f" ({'; '.join(extra)})" if extra else "")


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(criteria: list[CriterionDefinition]) -> list[str]:
    lines = [
        "| # | criterion | kind | look-back | encoded as | registry text |",
        "|---|---|---|---|---|---|",
    ]
    for n, c in enumerate(criteria, start=1):
        rule = describe(c.params) if c.params is not None else c.rule.get("type", "?")
        lines.append(
            f"| {n} | **{_cell(c.title)}** (`{c.id}`) | {c.kind} | {c.lookback_days} d | "
            f"{_cell(rule)} | {_cell(c.source_text or '**missing**')} |"
        )
    return lines


def to_markdown(trial: TrialDefinition) -> str:
    lines = [
        f"# {trial.title}",
        "",
        f"- Registry: [{trial.registry_id}]({trial.url}), status **{trial.recruitment_status}**"
        + ("" if trial.recruiting else " (never suggested on a card)"),
        f"- Definition id: `{trial.id}`; short title: {trial.short_title}",
        f"- Default look-back: {trial.raw.get('lookback_days')} days",
        "",
        trial.summary,
        "",
    ]
    notes = trial.raw.get("notes") or []
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    for role, heading in (("inclusion", "Inclusion criteria"), ("exclusion", "Exclusion criteria")):
        chosen = [c for c in trial.criteria if c.role == role]
        lines += [f"## {heading} ({len(chosen)})", ""]
        lines += _rows(chosen) if chosen else ["None in hand."]
        lines.append("")
    team = [
        c.id
        for c in trial.criteria
        if c.params is not None and any(isinstance(r, StudyTeam) for r in c.params.walk())
    ]
    lines += [
        "## Review",
        "",
        f"{len(trial.criteria)} criteria; {len(team)} need the study team in whole or part"
        + (f" ({', '.join(team)})." if team else "."),
        "",
        "Reviewed and signed off by: ____________________  Date: ____________",
        "",
    ]
    return "\n".join(lines)
