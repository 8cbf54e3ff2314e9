"""Load trial definitions: one `<trial-id>.json` per trial, validated before use.

A broken definition fails loudly at start-up with the file and the JSON path of the bad
field, so a typo can never silently drop a criterion in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from cds_hooks.trials.model import CriterionDefinition, TrialDefinition
from cds_hooks.trials.params import SCHEMA_PATH, parse_rule

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

PACKAGED_DIR = Path(__file__).resolve().parent / "definitions"


class TrialDefinitionError(ValueError):
    """A trial definition file is unreadable or invalid; the message names file and path."""


@lru_cache(maxsize=1)
def _fast_validator() -> jsonschema_rs.Validator:
    # Decides validity. jsonschema-rs imports in milliseconds; the pure-Python jsonschema
    # builds its format-checker grammars at import (~2 s), which every CLI start would pay.
    return jsonschema_rs.validator_for(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    # Only reached for a definition that failed: it words the error (file + JSON path).
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _pointer(path: Iterable[Any]) -> str:
    return "/" + "/".join(str(p) for p in path)


def _deepest(errors: Iterable[Any]) -> Any:
    # oneOf/allOf failures nest the useful message; report the most specific location.
    best = None
    for error in errors:
        leaf = error
        while leaf.context:
            leaf = max(leaf.context, key=lambda e: len(e.absolute_path))
        if best is None or len(leaf.absolute_path) > len(best.absolute_path):
            best = leaf
    return best


def parse_trial(raw: Any, source: str) -> TrialDefinition:
    error = None if _fast_validator().is_valid(raw) else _deepest(_validator().iter_errors(raw))
    if error is not None:
        raise TrialDefinitionError(f"{source}: {_pointer(error.absolute_path)}: {error.message}")
    default_lookback = int(raw["lookback_days"])
    criteria = []
    for c in raw["criteria"]:
        # Validated above against the schema generated from the rule classes.
        params = parse_rule(c["rule"], validated=True)
        criteria.append(
            CriterionDefinition(
                id=c["id"],
                title=c["title"],
                kind=c["kind"],
                role=c["role"],
                rule=c["rule"],
                lookback_days=int(c.get("lookback_days", default_lookback)),
                source_text=c.get("source_text"),
                params=params,
            )
        )
    ids = [c.id for c in criteria]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise TrialDefinitionError(f"{source}: /criteria: duplicate criterion ids {duplicates}")
    return TrialDefinition(
        id=raw["id"],
        title=raw["title"],
        short_title=raw["short_title"],
        summary=raw["summary"],
        registry_id=raw["registry"]["id"],
        url=raw["registry"]["url"],
        recruitment_status=raw["registry"]["status"],
        target_code_sets=tuple(raw["target_condition"]["code_sets"]),
        treatment_code_sets=tuple(raw["treatment_orders"]["code_sets"]),
        criteria=tuple(criteria),
        raw=raw,
    )


def load_trial_file(path: Path) -> TrialDefinition:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TrialDefinitionError(f"{path}: cannot read trial definition: {exc}") from exc
    trial = parse_trial(raw, str(path))
    if path.stem != trial.id:
        raise TrialDefinitionError(f"{path}: /id: {trial.id!r} does not match the file name")
    return trial


def load_trials(directory: Path | None = None) -> list[TrialDefinition]:
    """Every `*.json` definition in `directory` (default: the packaged definitions)."""
    folder = directory or PACKAGED_DIR
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise TrialDefinitionError(f"{folder}: no trial definitions found")
    return [load_trial_file(p) for p in paths]
