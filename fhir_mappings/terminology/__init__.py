"""Code sets and default reference limits, loaded once from the JSON data beside this file.

Every data file is validated against a JSON Schema shipped beside it (code sets, reference
limits, unit aliases) and then checked for what a schema cannot express (a name defined
twice, a limit for an analyte that has no code set, an answer given two values). A typo in
the data fails at start-up with the file and JSON path, never mid-request.
See README.md here for what each file holds, its sources and licences.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import jsonschema_rs

from fhir_mappings._read import canonical_system
from fhir_mappings.facts import Code, Quantity

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

DATA_DIR = Path(__file__).resolve().parent
_CODE_SETS_SCHEMA = "code-sets.schema.json"
_LIMITS_SCHEMA = "reference-limits.schema.json"
_ALIASES_SCHEMA = "unit-aliases.schema.json"
_LIMITS_FILE = "reference_limits.json"
_ALIASES_FILE = "unit_aliases.json"
INGREDIENTS_FILE = "drug_ingredients.json"  # read by fhir_mappings.medications
_NOT_CODE_SETS = frozenset(
    {
        _CODE_SETS_SCHEMA,
        _LIMITS_SCHEMA,
        _ALIASES_SCHEMA,
        _LIMITS_FILE,
        _ALIASES_FILE,
        INGREDIENTS_FILE,
    }
)

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


_WORD = re.compile(r"[a-z0-9]+")


def wording_words(text: str) -> tuple[str, ...]:
    """A wording's words, lower-cased, punctuation ignored; a hyphen joins ("self-care" and
    "selfcare" are one word), as EHRs write the same scale's wording both ways."""
    return tuple(_WORD.findall(text.lower().replace("-", "")))


def _empty() -> Mapping[Any, Any]:
    return _EMPTY


# system → ((prefix length, prefixes of that length), ...), longest first.
_PrefixIndex = Mapping[str, tuple[tuple[int, frozenset[str]], ...]]


class TerminologyError(ValueError):
    """A terminology data file is missing or malformed."""


def _index_prefixes(prefixes: Iterable[tuple[str, str]]) -> _PrefixIndex:
    by_system: dict[str, dict[int, set[str]]] = {}
    for system, prefix in prefixes:
        by_system.setdefault(system, {}).setdefault(len(prefix), set()).add(prefix)
    return MappingProxyType(
        {
            system: tuple(
                (length, frozenset(group))
                for length, group in sorted(lengths.items(), reverse=True)
            )
            for system, lengths in by_system.items()
        }
    )


@dataclass(frozen=True, slots=True)
class Plausible:
    """Physiological limits of an analyte: a value outside them is an error in the data."""

    low: float
    low_exclusive: bool
    high: float
    unit: str  # UCUM
    integer: bool  # a score on an integer scale (ECOG)
    source: str
    verification: str


@dataclass(frozen=True, slots=True, eq=False)
class CodeSet:
    """A named set of codes with what the engine needs to read values of those codes.

    Matching is exact on (system, code), plus prefixes for hierarchical systems (ATC B01A…,
    ICD-10 C78.7…). Both are set lookups: matching costs O(codes in the fact), whatever the
    size of the set. Instances are compared and hashed by identity (one per Terminology).
    """

    name: str
    description: str
    source: str
    codes: frozenset[Code]
    # (system, prefix) pairs: hierarchical code systems (ATC B01A…, ICD-10 C78.7…).
    code_prefixes: tuple[tuple[str, str], ...] = ()
    canonical_unit: str | None = None  # UCUM
    molar_mass: float | None = None  # g/mol: enables µmol/L ↔ mg/dL for this analyte
    # Units this analyte treats as one although UCUM does not ({"[IU]/L": "U/L"} for enzymes).
    unit_equivalents: Mapping[str, str] = field(default_factory=_empty)
    # Coded answer → number (ECOG LA9622-7 → 0, dipstick "++" → 2).
    answers: Mapping[Code, float] = field(default_factory=_empty)
    # Lower-cased free-text answer → number ("2+" → 2, "trace" → 0.5).
    text_grades: Mapping[str, float] = field(default_factory=_empty)
    # (exclusive upper bound in canonical_unit, or None for "and above", grade), ascending.
    quantity_grades: tuple[tuple[float | None, float], ...] = ()
    # Code → group label (metastasis code or body site → organ site).
    groups: Mapping[Code, str] = field(default_factory=_empty)
    # (system, prefix, group label): groups of prefix-matched codes; longest prefix wins.
    prefix_groups: tuple[tuple[str, str, str], ...] = ()
    displays: Mapping[Code, str] = field(default_factory=_empty)
    order_code: Code | None = None  # what to order when the value is missing (LOINC)
    order_display: str | None = None
    # DICOM modality of the codes (MR, CT, ES...) for report and imaging code sets.
    modality: str | None = None
    # Coded answers of this observation (MSI Stable, MMR intact...), and free text → answer.
    answer_codes: frozenset[Code] = frozenset()
    text_answers: Mapping[str, Code] = field(default_factory=_empty)
    # Answer → its own wording as words (ECOG 1 → "restricted in physically strenuous ..."):
    # "1 - Restricted in ..." is read as ECOG 1 only when the wording agrees with the number.
    answer_wordings: Mapping[Code, tuple[str, ...]] = field(default_factory=_empty)
    plausible: Plausible | None = None
    # Text that names a member in free text (`name_words`), as one case-blind pattern: a
    # record the codes do not place may still be a member.
    name_pattern: re.Pattern[str] | None = None
    # Every code system the set names (codes and prefixes): a fact coded in none of them
    # cannot be told to be in the set or not.
    systems: frozenset[str] = field(init=False, repr=False)
    _prefix_index: _PrefixIndex = field(init=False, repr=False)
    _prefix_group_of: Mapping[Code, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Derived lookup tables; frozen, so set through object.__setattr__ once.
        object.__setattr__(
            self,
            "systems",
            frozenset(s for s, _ in self.codes) | frozenset(s for s, _ in self.code_prefixes),
        )
        object.__setattr__(self, "_prefix_index", _index_prefixes(self.code_prefixes))
        object.__setattr__(
            self,
            "_prefix_group_of",
            MappingProxyType({(s, p): g for s, p, g in self.prefix_groups}),
        )

    def _matching_prefixes(self, code: Code) -> Iterable[str]:
        """Prefixes of this set that `code` starts with, longest first."""
        system, value = code
        for length, prefixes in self._prefix_index.get(system, ()):
            if length <= len(value) and value[:length] in prefixes:
                yield value[:length]

    def matches_code(self, code: Code) -> bool:
        if code in self.codes:
            return True
        # `_matching_prefixes` without its generator: this runs for every code of every
        # record a rule reads.
        system, value = code
        for length, prefixes in self._prefix_index.get(system, ()):
            if length <= len(value) and value[:length] in prefixes:
                return True
        return False

    def named_in(self, text: str | None) -> bool:
        """Whether `text` uses a word that names a member of the set (`name_words`)."""
        if not text or self.name_pattern is None:
            return False
        return self.name_pattern.search(text) is not None

    def matches(self, codes: Iterable[Code]) -> bool:
        # A loop, not any(): a generator per call costs more than most sets' lookups.
        for code in codes:  # noqa: SIM110
            if self.matches_code(code):
                return True
        return False

    def group_of(self, code: Code) -> str | None:
        """The group of an exact code, else of its longest grouped prefix (C78.7 → liver)."""
        group = self.groups.get(code)
        if group is not None:
            return group
        for prefix in self._matching_prefixes(code):
            group = self._prefix_group_of.get((code[0], prefix))
            if group is not None:
                return group
        return None

    def answer_value(self, codes: Iterable[Code]) -> float | None:
        """The number of the first coding that is a known answer, else None."""
        for code in codes:
            value = self.answers.get(code)
            if value is not None:
                return value
        return None


@dataclass(frozen=True, slots=True)
class _Limit:
    by_sex: Mapping[str, float]  # "male" / "female" / "any"
    unit: str
    source: str
    verification: str


class Terminology:
    """All code sets by name, the default reference limits and the unit alias table."""

    def __init__(
        self,
        code_sets: Mapping[str, CodeSet],
        limits: Mapping[str, Mapping[str, _Limit]],
        unit_aliases: Mapping[str, str],
    ) -> None:
        self.code_sets: Mapping[str, CodeSet] = MappingProxyType(dict(code_sets))
        self._limits = limits
        self.unit_aliases: Mapping[str, str] = MappingProxyType(dict(unit_aliases))
        # Reading facts needs, per code, only the few sets that say how to read a value
        # (answers, limits, modality); indexed once so the reader pays one lookup per code.
        readers: dict[Code, list[CodeSet]] = {}
        for code_set in self.code_sets.values():
            if (
                code_set.plausible is not None
                or code_set.text_answers
                or code_set.answer_codes
                or code_set.answers
                or code_set.modality is not None
            ):
                for code in code_set.codes:
                    readers.setdefault(code, []).append(code_set)
        self._readers = MappingProxyType({k: tuple(v) for k, v in readers.items()})
        # Charts repeat the same few codes (a year of creatinine results): each code
        # combination is resolved once per process.
        self._reading_cache: dict[frozenset[Code], tuple[CodeSet, ...]] = {}

    def reading_sets(self, codes: Iterable[Code]) -> tuple[CodeSet, ...]:
        """The code sets holding any of `codes` that carry reading rules (answers, limits,
        modality), without duplicates, in a stable order."""
        if type(codes) is frozenset:
            cached = self._reading_cache.get(codes)
            if cached is None:
                cached = self._reading_cache[codes] = self._find_reading_sets(codes)
                if len(self._reading_cache) > 65536:  # unbounded code soup: start again
                    self._reading_cache.clear()
            return cached
        return self._find_reading_sets(codes)

    def _find_reading_sets(self, codes: Iterable[Code]) -> tuple[CodeSet, ...]:
        found: dict[str, CodeSet] = {}
        for code in codes:
            for code_set in self._readers.get(code, ()):
                found.setdefault(code_set.name, code_set)
        return tuple(found[name] for name in sorted(found))

    def code_set(self, name: str) -> CodeSet:
        """The code set called `name`; KeyError when there is none."""
        try:
            return self.code_sets[name]
        except KeyError:
            raise KeyError(f"unknown code set {name!r}") from None

    def default_limit(
        self, analyte: str, bound: Literal["high", "low"], sex: str | None
    ) -> tuple[Quantity, str] | None:
        """The documented fallback limit, sex-specific where the table has one.

        Returns (limit, description of where it came from) or None when no default applies
        (e.g. creatinine for a patient whose sex is not recorded: no sex-neutral default
        exists, and guessing one could decide the criterion wrongly).
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


@lru_cache(maxsize=4)
def _fast_validator(schema_file: str) -> jsonschema_rs.Validator:
    # Decides validity. jsonschema-rs imports in milliseconds; the pure-Python jsonschema
    # builds its format-checker grammars at import (~2 s), which every CLI start would pay.
    return jsonschema_rs.validator_for(_read_json(DATA_DIR / schema_file))


@lru_cache(maxsize=4)
def _validator(schema_file: str) -> Draft202012Validator:
    # Only reached for a file that failed: it words the error as before (path + message).
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_read_json(DATA_DIR / schema_file))


def _validated(path: Path, schema_file: str) -> Any:
    raw = _read_json(path)
    if _fast_validator(schema_file).is_valid(raw):
        return raw
    errors = sorted(_validator(schema_file).iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise TerminologyError(f"{path}: {_pointer(first.absolute_path)}: {first.message}{more}")
    return raw


def _code(entry: Mapping[str, Any]) -> Code:
    return (str(entry["system"]), str(entry["code"]))


# ICD-10-GM (BfArM, formerly DIMDI) is the German modification of WHO ICD-10 and keeps its
# codes: a WHO ICD-10 code or prefix in a set also names the ICD-10-GM code written the same
# way, so German records match every set without each listing the GM systems again. A set
# that needs a GM-only code (or another group for it) lists it explicitly, which wins.
_WHO_ICD10 = "http://hl7.org/fhir/sid/icd-10"
_ICD10_GM = (
    "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
    "http://fhir.de/CodeSystem/dimdi/icd-10-gm",
)


def _with_icd10_gm(entries: list[Mapping[str, Any]], key: str) -> list[Mapping[str, Any]]:
    listed = {(e["system"], e[key]) for e in entries}
    added = [
        {**e, "system": gm}
        for e in entries
        if e["system"] == _WHO_ICD10
        for gm in _ICD10_GM
        if (gm, e[key]) not in listed
    ]
    return [*entries, *added]


def _check_canonical_systems(path: Path, name: str, raw: Mapping[str, Any]) -> None:
    """Records are read with canonical system URIs (an OID or an alias is rewritten first,
    `fhir_mappings._read`): a set entry written with an alias would never match anything."""
    for key in ("codes", "code_prefixes", "answers", "answer_codes"):
        entries = raw.get(key, [])
        # A set names few systems over many codes: each system is checked once.
        for system in {entry["system"] for entry in entries}:
            if canonical_system(system) != system:
                i = next(i for i, e in enumerate(entries) if e["system"] == system)
                raise TerminologyError(
                    f"{path}: /code_sets/{name}/{key}/{i}: write system {system!r} as "
                    f"{canonical_system(system)!r} (records are read with that URI)"
                )


def _code_set(path: Path, name: str, raw: Mapping[str, Any]) -> CodeSet:
    _check_canonical_systems(path, name, raw)
    codes = _with_icd10_gm(raw["codes"], "code")
    prefixes = _with_icd10_gm(raw.get("code_prefixes", []), "prefix")
    answers_raw = raw.get("answers", [])
    order = raw.get("order")
    answers: dict[Code, float] = {}
    for i, entry in enumerate(answers_raw):
        key, value = _code(entry), float(entry["value"])
        if answers.get(key, value) != value:
            raise TerminologyError(
                f"{path}: /code_sets/{name}/answers/{i}: {key} already has another value"
            )
        answers[key] = value
    answer_codes = frozenset(_code(c) for c in raw.get("answer_codes", []))
    # A free-text answer names one of the coded answers, or a numeric one ("ECOG 1").
    by_value = {code: (system, code) for system, code in (*answers, *answer_codes)}
    text_answers: dict[str, Code] = {}
    for text, value in raw.get("text_answers", {}).items():
        if value not in by_value:
            raise TerminologyError(
                f"{path}: /code_sets/{name}/text_answers/{text}: {value} is not in "
                "answer_codes or answers"
            )
        text_answers[" ".join(text.lower().split())] = by_value[value]
    answer_wordings = {
        _code(entry): wording_words(entry["description"])
        for entry in [*answers_raw, *raw.get("answer_codes", [])]
        if "description" in entry
    }
    plausible_raw = raw.get("plausible")
    plausible = (
        Plausible(
            low=float(plausible_raw["min"]),
            low_exclusive=bool(plausible_raw.get("min_exclusive", False)),
            high=float(plausible_raw["max"]),
            unit=plausible_raw["unit"],
            integer=bool(plausible_raw.get("integer", False)),
            source=plausible_raw["source"],
            verification=plausible_raw["verification"],
        )
        if plausible_raw
        else None
    )
    return CodeSet(
        name=name,
        description=raw["description"],
        source=raw["source"],
        codes=frozenset(_code(c) for c in codes),
        code_prefixes=tuple((p["system"], p["prefix"]) for p in prefixes),
        canonical_unit=raw.get("canonical_unit"),
        molar_mass=raw.get("molar_mass"),
        unit_equivalents=MappingProxyType(dict(raw.get("unit_equivalents", {}))),
        answers=MappingProxyType(answers),
        text_grades=MappingProxyType(
            {k.strip().lower(): float(v) for k, v in raw.get("text_grades", {}).items()}
        ),
        quantity_grades=tuple(
            (None if g["below"] is None else float(g["below"]), float(g["grade"]))
            for g in raw.get("quantity_grades", [])
        ),
        groups=MappingProxyType({_code(c): c["group"] for c in codes if "group" in c}),
        prefix_groups=tuple(
            (p["system"], p["prefix"], p["group"]) for p in prefixes if "group" in p
        ),
        displays=MappingProxyType(
            {_code(c): c["display"] for c in [*codes, *answers_raw, *raw.get("answer_codes", [])]}
        ),
        order_code=_code(order) if order else None,
        order_display=order["display"] if order else None,
        modality=raw.get("modality"),
        answer_codes=answer_codes,
        text_answers=MappingProxyType(text_answers),
        answer_wordings=MappingProxyType(answer_wordings),
        plausible=plausible,
        name_pattern=_name_pattern(raw.get("name_words", ())),
    )


def _name_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One case-blind pattern for `words`: a longer word matches anywhere ("chemotherap" in
    "Biochemotherapy"), a short one (an acronym: "IMRT", "SBRT") only as a word of its own,
    so that it is not found inside unrelated words; None without words."""
    cleaned = {" ".join(w.split()) for w in words}
    if not cleaned:
        return None
    by_length = sorted(cleaned, key=len, reverse=True)
    parts = [
        re.escape(w) if len(w) > _SHORT_NAME_WORD else rf"\b{re.escape(w)}\b" for w in by_length
    ]
    return re.compile("|".join(parts), re.IGNORECASE)


# Name words this long or shorter are acronyms, matched as whole words only.
_SHORT_NAME_WORD = 5


def _load_limits(path: Path) -> dict[str, dict[str, _Limit]]:
    raw = _validated(path, _LIMITS_SCHEMA)
    limits: dict[str, dict[str, _Limit]] = {}
    for analyte, entry in raw["limits"].items():
        for bound in ("high", "low"):
            if bound in entry:
                limits.setdefault(analyte, {})[bound] = _Limit(
                    by_sex=MappingProxyType({k: float(v) for k, v in entry[bound].items()}),
                    unit=entry["unit"],
                    source=entry["source"],
                    verification=entry["verification"],
                )
    return limits


def load_terminology(directory: Path | None = None) -> Terminology:
    """Load and validate the terminology in `directory` (default: the packaged data, cached).

    Every `*.json` there except the schemas, `reference_limits.json` and `unit_aliases.json`
    is a code-set file. Raises TerminologyError naming the file and JSON path of bad data.
    """
    if directory is None:
        return _packaged()
    return _load(directory)


@lru_cache(maxsize=1)
def _packaged() -> Terminology:
    return _load(DATA_DIR)


def _load(directory: Path) -> Terminology:
    code_sets: dict[str, CodeSet] = {}
    for path in sorted(directory.glob("*.json")):
        if path.name in _NOT_CODE_SETS:
            continue
        raw = _validated(path, _CODE_SETS_SCHEMA)
        for name, entry in raw["code_sets"].items():
            if name in code_sets:
                raise TerminologyError(f"{path}: /code_sets/{name}: defined twice")
            code_sets[name] = _code_set(path, name, entry)
    if not code_sets:
        raise TerminologyError(f"{directory}: no code-set files found")
    limits_path = directory / _LIMITS_FILE
    limits = _load_limits(limits_path) if limits_path.exists() else {}
    for analyte in limits:
        # A limit for a misspelt analyte would silently never be used.
        if analyte not in code_sets:
            raise TerminologyError(f"{limits_path}: /limits/{analyte}: no code set of that name")
    aliases_path = directory / _ALIASES_FILE
    aliases = _validated(aliases_path, _ALIASES_SCHEMA)["aliases"] if aliases_path.exists() else {}
    return Terminology(code_sets, limits, aliases)
