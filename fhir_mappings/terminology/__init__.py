"""Code sets and default reference limits, loaded once from the JSON data beside this file.

Each data file is validated against `code-sets.schema.json` at load time, so a typo in a
code set fails at start-up with the file and JSON path, never mid-request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator

from fhir_mappings.facts import Code, Quantity

DATA_DIR = Path(__file__).resolve().parent
_SCHEMA_FILE = "code-sets.schema.json"
_LIMITS_FILE = "reference_limits.json"
_ALIASES_FILE = "unit_aliases.json"


class TerminologyError(ValueError):
    """A terminology data file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class CodeSet:
    name: str
    description: str
    source: str
    codes: frozenset[Code]
    # (system, prefix) pairs: hierarchical code systems (ATC B01A…, ICD-10 C78.7…).
    code_prefixes: tuple[tuple[str, str], ...] = ()
    canonical_unit: str | None = None
    molar_mass: float | None = None
    unit_equivalents: Mapping[str, str] = field(default_factory=dict)
    answers: Mapping[Code, float] = field(default_factory=dict)
    text_grades: Mapping[str, float] = field(default_factory=dict)
    # (exclusive upper bound in canonical_unit or None for "and above", grade)
    quantity_grades: tuple[tuple[float | None, float], ...] = ()
    # Code → group label (e.g. metastasis code → organ site).
    groups: Mapping[Code, str] = field(default_factory=dict)
    prefix_groups: tuple[tuple[str, str, str], ...] = ()
    displays: Mapping[Code, str] = field(default_factory=dict)
    order_code: Code | None = None
    order_display: str | None = None

    def matches_code(self, code: Code) -> bool:
        if code in self.codes:
            return True
        system, value = code
        return any(system == s and value.startswith(p) for s, p in self.code_prefixes)

    def matches(self, codes: Iterable[Code]) -> bool:
        return any(self.matches_code(code) for code in codes)

    def group_of(self, code: Code) -> str | None:
        group = self.groups.get(code)
        if group is not None:
            return group
        system, value = code
        # Longest prefix wins, so C78.7 (liver) beats C78 (unspecified).
        best: tuple[int, str] | None = None
        for s, prefix, label in self.prefix_groups:
            if system == s and value.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), label)
        return best[1] if best else None


@dataclass(frozen=True, slots=True)
class _Limit:
    by_sex: Mapping[str, float]
    unit: str
    source: str


class Terminology:
    def __init__(
        self,
        code_sets: Mapping[str, CodeSet],
        limits: Mapping[str, Mapping[str, _Limit]],
        unit_aliases: Mapping[str, str],
    ) -> None:
        self.code_sets = dict(code_sets)
        self._limits = limits
        self.unit_aliases = dict(unit_aliases)

    def code_set(self, name: str) -> CodeSet:
        try:
            return self.code_sets[name]
        except KeyError:
            raise KeyError(f"unknown code set {name!r}") from None

    def default_limit(
        self, analyte: str, bound: Literal["high", "low"], sex: str | None
    ) -> tuple[Quantity, str] | None:
        """The documented fallback limit, sex-specific where the table has one.

        Returns (limit, description of where it came from) or None when no default applies
        (e.g. creatinine for a patient whose sex is not recorded).
        """
        limit = self._limits.get(analyte, {}).get(bound)
        if limit is None:
            return None
        if sex in ("male", "female") and sex in limit.by_sex:
            value, which = limit.by_sex[sex], sex
        elif "any" in limit.by_sex:
            value, which = limit.by_sex["any"], "any sex"
        else:
            return None
        label = "ULN" if bound == "high" else "LLN"
        return (
            Quantity(value, limit.unit),
            f"default {label} {value:g} {limit.unit} ({which}; {limit.source})",
        )


def _pointer(path: Iterable[Any]) -> str:
    return "/" + "/".join(str(p) for p in path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TerminologyError(f"{path}: cannot read terminology data: {exc}") from exc


def _code(entry: Mapping[str, Any]) -> Code:
    return (str(entry["system"]), str(entry["code"]))


def _code_set(name: str, raw: Mapping[str, Any]) -> CodeSet:
    codes = raw["codes"]
    prefixes = raw.get("code_prefixes", [])
    order = raw.get("order")
    return CodeSet(
        name=name,
        description=raw["description"],
        source=raw["source"],
        codes=frozenset(_code(c) for c in codes),
        code_prefixes=tuple((p["system"], p["prefix"]) for p in prefixes),
        canonical_unit=raw.get("canonical_unit"),
        molar_mass=raw.get("molar_mass"),
        unit_equivalents=dict(raw.get("unit_equivalents", {})),
        answers={_code(a): float(a["value"]) for a in raw.get("answers", [])},
        text_grades={k.lower(): float(v) for k, v in raw.get("text_grades", {}).items()},
        quantity_grades=tuple(
            (None if g["below"] is None else float(g["below"]), float(g["grade"]))
            for g in raw.get("quantity_grades", [])
        ),
        groups={_code(c): c["group"] for c in codes if "group" in c},
        prefix_groups=tuple(
            (p["system"], p["prefix"], p["group"]) for p in prefixes if "group" in p
        ),
        displays={_code(c): c["display"] for c in [*codes, *raw.get("answers", [])]},
        order_code=_code(order) if order else None,
        order_display=order["display"] if order else None,
    )


def _load_limits(path: Path) -> dict[str, dict[str, _Limit]]:
    raw = _read_json(path)
    limits: dict[str, dict[str, _Limit]] = {}
    try:
        for analyte, entry in raw["limits"].items():
            for bound in ("high", "low"):
                if bound in entry:
                    limits.setdefault(analyte, {})[bound] = _Limit(
                        by_sex={k: float(v) for k, v in entry[bound].items()},
                        unit=str(entry["unit"]),
                        source=str(entry["source"]),
                    )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TerminologyError(f"{path}: malformed reference limit ({exc})") from exc
    return limits


def load_terminology(directory: Path | None = None) -> Terminology:
    """Load and validate every code-set file in `directory` (default: the packaged data)."""
    if directory is None:
        return _packaged()
    return _load(directory)


@lru_cache(maxsize=1)
def _packaged() -> Terminology:
    return _load(DATA_DIR)


def _load(directory: Path) -> Terminology:
    validator = Draft202012Validator(_read_json(DATA_DIR / _SCHEMA_FILE))
    code_sets: dict[str, CodeSet] = {}
    special = {_SCHEMA_FILE, _LIMITS_FILE, _ALIASES_FILE}
    for path in sorted(directory.glob("*.json")):
        if path.name in special:
            continue
        raw = _read_json(path)
        error = next(iter(sorted(validator.iter_errors(raw), key=lambda e: list(e.path))), None)
        if error is not None:
            raise TerminologyError(f"{path}: {_pointer(error.absolute_path)}: {error.message}")
        for name, entry in raw["code_sets"].items():
            if name in code_sets:
                raise TerminologyError(f"{path}: /code_sets/{name}: defined twice")
            code_sets[name] = _code_set(name, entry)
    if not code_sets:
        raise TerminologyError(f"{directory}: no code-set files found")
    limits_path = directory / _LIMITS_FILE
    aliases_path = directory / _ALIASES_FILE
    limits = _load_limits(limits_path) if limits_path.exists() else {}
    aliases = _read_json(aliases_path)["aliases"] if aliases_path.exists() else {}
    return Terminology(code_sets, limits, aliases)
