"""Semantic checks of trial definitions beyond the schema, for the people who write them.

Each finding names the file, the JSON path and the reason. Errors make `trial-cds trials
check` exit 2; warnings (code sets no checked trial uses) are printed only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_hooks.trials.loader import TrialDefinitionError, load_trial_file
from cds_hooks.trials.model import TrialDefinition
from cds_hooks.trials.params import (
    AgeRange,
    AllOf,
    AnyOf,
    FirstDecided,
    LabThreshold,
    Not,
    OrderedCategory,
    ReportNumber,
    RuleParams,
    StudyTeam,
    When,
    parse_rule,
)
from fhir_mappings.terminology import Terminology
from fhir_mappings.units import UnitError, convert, normalize_unit

MET, NOT_MET, UNKNOWN = "met", "not_met", "unknown"
ALL = frozenset({MET, NOT_MET, UNKNOWN})


@dataclass(frozen=True, slots=True)
class Finding:
    file: str
    path: str
    reason: str
    error: bool = True

    def __str__(self) -> str:
        level = "error" if self.error else "warning"
        return f"{self.file}: {self.path}: {level}: {self.reason}"


def _nodes(raw: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every rule object under `raw` with its JSON path."""
    yield path, raw
    for i, child in enumerate(raw.get("rules", []) or []):
        if isinstance(child, Mapping):
            yield from _nodes(child, f"{path}/rules/{i}")
    for key in ("rule", "condition", "then"):
        child = raw.get(key)
        if isinstance(child, Mapping):
            yield from _nodes(child, f"{path}/{key}")


def outcomes(rule: RuleParams) -> frozenset[str]:
    """The statuses a rule can produce at all (Kleene logic over its parts)."""
    if isinstance(rule, StudyTeam):
        return frozenset({UNKNOWN})
    if isinstance(rule, AllOf):
        parts = [outcomes(r) for r in rule.rules]
        found = {UNKNOWN}
        if all(MET in p for p in parts):
            found.add(MET)
        if any(NOT_MET in p for p in parts):
            found.add(NOT_MET)
        return frozenset(found)
    if isinstance(rule, AnyOf):
        parts = [outcomes(r) for r in rule.rules]
        found = {UNKNOWN}
        if any(MET in p for p in parts):
            found.add(MET)
        if all(NOT_MET in p for p in parts):
            found.add(NOT_MET)
        return frozenset(found)
    if isinstance(rule, FirstDecided):
        return frozenset({UNKNOWN}).union(*(outcomes(r) - {UNKNOWN} for r in rule.rules))
    if isinstance(rule, Not):
        swap = {MET: NOT_MET, NOT_MET: MET, UNKNOWN: UNKNOWN}
        return frozenset(swap[s] for s in outcomes(rule.rule))
    if isinstance(rule, When):
        return outcomes(rule.then) | {rule.otherwise, UNKNOWN}
    return ALL


def _interval(rule: LabThreshold) -> tuple[float, bool, float, bool]:
    """(low, low_closed, high, high_closed) of the values that meet a threshold."""
    if rule.op in (">=", ">"):
        return rule.value, rule.op == ">=", math.inf, False
    return -math.inf, False, rule.value, rule.op == "<="


def _disjoint(a: LabThreshold, b: LabThreshold) -> bool:
    (alo, alc, ahi, ahc), (blo, blc, bhi, bhc) = _interval(a), _interval(b)
    lo, lo_closed = max((alo, alc), (blo, blc), key=lambda x: (x[0], not x[1]))
    hi, hi_closed = min((ahi, ahc), (bhi, bhc), key=lambda x: (x[0], x[1]))
    return lo > hi or (lo == hi and not (lo_closed and hi_closed))


def _rule_findings(
    rule: RuleParams, path: str, source: str, terminology: Terminology
) -> Iterator[Finding]:
    for read in rule.own_reads():
        if read.code_set is not None and read.code_set not in terminology.code_sets:
            yield Finding(source, path, f"unknown code set {read.code_set!r}")
    if isinstance(rule, AgeRange) and rule.max is not None and rule.min > rule.max:
        yield Finding(source, path, f"impossible age range {rule.min}–{rule.max}")
    if isinstance(rule, OrderedCategory):
        scale = set(rule.scale)
        for bound in (rule.min, rule.max):
            if bound not in scale:
                yield Finding(source, path, f"{bound!r} is not on the scale {rule.scale}")
        for alias, fine in rule.aliases.items():
            for name in fine:
                if name not in scale:
                    yield Finding(
                        source, f"{path}/aliases/{alias}", f"{name!r} is not on the scale"
                    )
        bounds_known = rule.min in scale and rule.max in scale
        if bounds_known and rule.scale.index(rule.min) > rule.scale.index(rule.max):
            yield Finding(source, path, f"impossible range {rule.min}–{rule.max}")
    if isinstance(rule, LabThreshold | ReportNumber) and normalize_unit(rule.unit) is None:
        yield Finding(source, path, f"unit {rule.unit!r} is not UCUM")
    if isinstance(rule, ReportNumber):
        try:
            convert(1, "cm", rule.unit)
        except UnitError:
            yield Finding(source, path, f"report text is read as a length; {rule.unit!r} is not")
    if isinstance(rule, AllOf):
        thresholds = [(i, r) for i, r in enumerate(rule.rules) if isinstance(r, LabThreshold)]
        for n, (i, a) in enumerate(thresholds):
            for j, b in thresholds[n + 1 :]:
                same = (a.code_set, a.component) == (b.code_set, b.component)
                if same and a.unit == b.unit and _disjoint(a, b):
                    yield Finding(
                        source,
                        f"{path}/rules/{j}",
                        f"contradicts {path}/rules/{i}: {a.label} {a.op} {a.value:g} and "
                        f"{b.op} {b.value:g} {b.unit} cannot both hold",
                    )
    children: Sequence[tuple[str, RuleParams]] = ()
    if isinstance(rule, AllOf | AnyOf | FirstDecided):
        children = [(f"{path}/rules/{i}", r) for i, r in enumerate(rule.rules)]
    elif isinstance(rule, Not):
        children = [(f"{path}/rule", rule.rule)]
    elif isinstance(rule, When):
        children = [(f"{path}/condition", rule.condition), (f"{path}/then", rule.then)]
    for child_path, child in children:
        if outcomes(child) != {UNKNOWN}:
            continue
        # A study_team part of all_of / any_of is the explicit "partly a person's call";
        # anywhere else, and any combinator that can only be unknown, is a dead branch.
        if isinstance(child, StudyTeam) and isinstance(rule, AllOf | AnyOf):
            continue
        yield Finding(source, child_path, "this branch can never decide (always unknown)")


def lint_trial(trial: TrialDefinition, source: str, terminology: Terminology) -> list[Finding]:
    findings: list[Finding] = []
    for name in (*trial.target_code_sets, *trial.treatment_code_sets):
        if name not in terminology.code_sets:
            findings.append(Finding(source, "/target_condition", f"unknown code set {name!r}"))
    for i, criterion in enumerate(trial.criteria):
        base = f"/criteria/{i}"
        if not (criterion.source_text or "").strip():
            findings.append(Finding(source, base, f"{criterion.id}: no registry source text"))
        for path, raw in _nodes(criterion.rule, f"{base}/rule"):
            findings.extend(_rule_findings(parse_rule(raw), path, source, terminology))
        if criterion.params is not None:
            possible = outcomes(criterion.params)
            if possible == {UNKNOWN} and not isinstance(criterion.params, StudyTeam):
                findings.append(
                    Finding(source, f"{base}/rule", f"{criterion.id}: can never decide")
                )
    return findings


def definition_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return files


def check(paths: Sequence[Path], terminology: Terminology) -> list[Finding]:
    """Schema and semantic findings for every definition file under `paths`."""
    findings: list[Finding] = []
    loaded: list[TrialDefinition] = []
    for file in definition_files(paths):
        try:
            trial = load_trial_file(file)
        except TrialDefinitionError as exc:
            text = str(exc)
            where, _, reason = text.removeprefix(f"{file}: ").partition(": ")
            if not where.startswith("/"):
                where, reason = "/", text.removeprefix(f"{file}: ")
            findings.append(Finding(str(file), where, reason))
            continue
        except json.JSONDecodeError as exc:  # pragma: no cover - loader wraps these
            findings.append(Finding(str(file), "/", f"not JSON ({exc})"))
            continue
        loaded.append(trial)
        findings.extend(lint_trial(trial, str(file), terminology))
    used = set().union(*(t.all_code_sets() for t in loaded)) if loaded else set()
    if loaded:
        for name in sorted(set(terminology.code_sets) - used):
            findings.append(
                Finding("terminology", f"/code_sets/{name}", "no checked trial uses it", False)
            )
    return findings
