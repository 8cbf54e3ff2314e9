"""Typed parameters of every rule type: the one source of truth for the criteria language.

Each rule type is one frozen dataclass; a rule carries exactly its class's keys. The `rule`
part of `trial-definition.schema.json` is generated from these classes (`python -m
cds_hooks.trials.schema`), and a test checks that the committed schema is that output. The
loader validates every definition against that schema before it builds these objects, so
the classes carry their constraints as JSON Schema keywords (`Keywords`, `spec`) and need
no validation library at run time: a CLI start pays for none.

Fields that name a code set say what the engine reads through them (`x-reads`): a
resource type, or "values" for sets of coded answers matched inside resources already
read. Prefetch templates and the FHIR fetches are derived from these reads.

No `from __future__ import annotations` here, on purpose: the field types are evaluated
once, as the classes are made, so building a rule never evaluates type strings (that cost
~30 ms per start). Only the nested rule is a forward reference ("Rule").
"""

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, dataclass_transform

from fhir_mappings.medications import MEDICATION_TYPES

SCHEMA_PATH = Path(__file__).resolve().parent / "trial-definition.schema.json"


@dataclass(frozen=True, slots=True)
class Keywords:
    """JSON Schema keywords a value must satisfy (in `Annotated[...]`)."""

    values: tuple[tuple[str, Any], ...]


def keywords(**values: Any) -> Keywords:
    return Keywords(tuple(values.items()))


CodeSetName = Annotated[str, keywords(pattern=r"^[a-z][a-z0-9_]*$")]
Label = Annotated[str, keywords(minLength=1)]
Modality = Annotated[str, keywords(pattern=r"^[A-Z]{2}$")]  # DICOM modality: MR, CT, ES…
Op = Literal[">=", ">", "<=", "<"]
# What a presence rule concludes when nothing matching is on record. "not_met" means the
# definition accepts the record's silence as a clear (e.g. the problem list for an active
# disease); "unknown" means only a person can confirm the absence.
Absence = Literal["not_met", "unknown"]

# Resource types a code-set field can read; "Medication" reads MedicationRequest and
# MedicationStatement; "values" names coded answers matched inside other reads.
ReadKind = Literal[
    "Observation",
    "Condition",
    "Medication",
    "Procedure",
    "AllergyIntolerance",
    "DiagnosticReport",
    "values",
]


def spec(
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    reads: ReadKind | None = None,
    **schema: Any,
) -> Any:
    """A field with JSON Schema keywords for its (non-null) value, e.g. `minimum=0`, and
    optionally what it reads (`x-reads`)."""
    metadata: dict[str, Any] = {"schema": schema}
    if reads is not None:
        metadata["x-reads"] = reads
    return field(default=default, default_factory=default_factory, metadata=metadata)


def reads(kind: ReadKind, **extra: Any) -> Any:
    return spec(reads=kind, **extra)


@dataclass(frozen=True, slots=True)
class Read:
    """One thing a rule reads: a resource type, optionally through a code set.

    `all_statuses` is set by rules that read history (a medication stopped a year ago
    still counts), so the fetch must not filter on status=active.
    """

    resource_type: str
    code_set: str | None = None
    all_statuses: bool = False


class RuleError(ValueError):
    """A rule that is not valid under the definition schema; `path` is its JSON pointer."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field, spec))
class RuleParams:
    """Base of every rule type. Each subclass is made a frozen, keyword-only dataclass."""

    # Resource types read without a code set (e.g. Patient for age).
    READS_ALSO: ClassVar[tuple[str, ...]] = ()
    # Rules reading history (any status) rather than what is active now.
    READS_HISTORY: ClassVar[bool] = False
    # Rules whose evaluator looks at their Observations only inside the criterion's window
    # (`Screening.latest`, `latest_single`, or a `window.contains` filter): for them an
    # older result can only ever be named as "the latest, too old", so the record need not
    # build the results behind it (`observation_horizons`). False means no such bound.
    READS_OBSERVATIONS_IN_WINDOW: ClassVar[bool] = False
    # The class's own docstring (the dataclass machinery fills in a signature when absent).
    DESCRIPTION: ClassVar[str | None] = None
    # (field name, what it reads) for every field that names code sets.
    READ_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = ()

    type: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.DESCRIPTION = cls.__dict__.get("__doc__")
        dataclass(frozen=True, kw_only=True)(cls)
        cls.READ_FIELDS = tuple(
            (f.name, f.metadata["x-reads"])
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if "x-reads" in f.metadata
        )

    def children(self) -> tuple["RuleParams", ...]:
        return ()

    def own_reads(self) -> Iterator[Read]:
        for resource_type in self.READS_ALSO:
            yield Read(resource_type, None, self.READS_HISTORY)
        for name, kind in self.READ_FIELDS:
            value = getattr(self, name)
            names = [value] if isinstance(value, str) else list(value or ())
            resource_types = sorted(MEDICATION_TYPES) if kind == "Medication" else (kind,)
            for code_set in names:
                for resource_type in resource_types:
                    yield Read(resource_type, code_set, self.READS_HISTORY)

    def reads_trial(self) -> bool:
        """Whether the outcome depends on which trial is being screened."""
        return False

    def walk(self) -> Iterator["RuleParams"]:
        yield self
        for child in self.children():
            yield from child.walk()

    def all_reads(self) -> Iterator[Read]:
        for rule in self.walk():
            yield from rule.own_reads()

    def as_raw(self) -> dict[str, Any]:
        """The rule as a definition writes it (every key, defaults included)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload,no-any-return]


# --------------------------------------------------------------------------- patient
class AgeRange(RuleParams):
    READS_ALSO = ("Patient",)
    type: Literal["age_range"]
    label: Label
    min: int = spec(minimum=0)
    max: int | None = spec(default=None, minimum=0)


class Deceased(RuleParams):
    """met when the Patient resource records a death (deceasedBoolean true or a
    deceasedDateTime): a criterion every trial carries, as an exclusion."""

    READS_ALSO = ("Patient",)
    type: Literal["deceased"]
    label: Label = "Patient deceased"


class Sex(RuleParams):
    READS_ALSO = ("Patient",)
    type: Literal["sex"]
    label: Label
    sex: Literal["male", "female"]


# --------------------------------------------------------------------------- conditions
class Diagnosis(RuleParams):
    READS_ALSO = ("DiagnosticReport",)
    type: Literal["diagnosis"]
    label: Label
    confirmed_code_sets: list[CodeSetName] = reads("Condition", minItems=1)
    disease_code_sets: list[CodeSetName] = reads("Condition", minItems=1)
    histology_code_sets: list[CodeSetName] = reads("values", minItems=1)
    # Pathology Observations (e.g. LOINC 59847-4) whose coded value states the histology:
    # read like a pathology report's conclusion.
    pathology_code_sets: list[CodeSetName] = reads("Observation", default_factory=list)
    # The histology in words, for reasons ("diagnosis code states adenocarcinoma").
    histology_name: Label
    absent_reason: Label


class ConditionPresent(RuleParams):
    """met when a Condition in the code sets (and in none of the except sets) is on record,
    dated inside the criterion's window (or `within_days`, when given). A Condition whose
    every matching code is also in an `uncertain_code_sets` set (a code too broad to say:
    "secondary neoplasm of intrapelvic lymph nodes" may be regional or distant) decides
    nothing: it makes the rule unknown unless another Condition decides it."""

    type: Literal["condition"]
    label: Label
    code_sets: list[CodeSetName] = reads("Condition", minItems=1)
    except_code_sets: list[CodeSetName] = reads("Condition", default_factory=list)
    uncertain_code_sets: list[CodeSetName] = reads("Condition", default_factory=list)
    active_only: bool
    within_days: int | None = spec(default=None, minimum=1)
    absence: Absence


class Histology(RuleParams):
    """The histology recorded on the primary diagnosis, a final pathology report or a final
    pathology Observation (`pathology_code_sets`, value: the morphology): met when it is in
    the sets, not_met when a histology is recorded and none is in the sets. A report's
    conclusion counts as a histology only when coded in ICD-O-3 or in the sets: a CT's
    "normal" is no histology."""

    READS_ALSO = ("DiagnosticReport",)
    type: Literal["histology"]
    label: Label
    histology_code_sets: list[CodeSetName] = reads("values", minItems=1)
    disease_code_sets: list[CodeSetName] = reads("Condition", minItems=1)
    pathology_code_sets: list[CodeSetName] = reads("Observation", default_factory=list)


class DistinctCount(RuleParams):
    """The number of distinct groups (e.g. organ sites) among matching active Conditions."""

    type: Literal["distinct_count"]
    label: Label
    code_sets: list[CodeSetName] = reads("Condition", minItems=1)
    group_code_set: CodeSetName = reads("values")
    op: Op
    value: int = spec(minimum=0)


class Oligometastases(RuleParams):
    READS_OBSERVATIONS_IN_WINDOW = True
    type: Literal["oligometastases"]
    secondary_code_sets: list[CodeSetName] = reads("Condition", minItems=1)
    body_site_code_set: CodeSetName = reads("values")
    lesion_count: CodeSetName = reads("Observation")
    site_count: CodeSetName = reads("Observation")
    m_stage: CodeSetName = reads("Observation")
    m0_values: CodeSetName = reads("values")
    max_sites: int = spec(minimum=0)
    max_lesions: int = spec(minimum=0)
    synchronous_within_days: int | None = spec(default=None, minimum=0)
    disease_code_sets: list[CodeSetName] = reads("Condition", default_factory=list)


# --------------------------------------------------------------------------- observations
class LabThreshold(RuleParams):
    """An Observation (or one component of it, e.g. systolic blood pressure) compared with a
    threshold in a UCUM unit; coded answers (ECOG, Karnofsky) count through the code set's
    answer values."""

    READS_OBSERVATIONS_IN_WINDOW = True

    type: Literal["lab_threshold"]
    label: Label
    code_set: CodeSetName = reads("Observation")
    component: CodeSetName | None = reads("Observation", default=None)
    op: Op
    value: float
    unit: Label


class LabUlnMultiple(RuleParams):
    READS_OBSERVATIONS_IN_WINDOW = True
    type: Literal["lab_uln_multiple"]
    label: Label
    code_set: CodeSetName = reads("Observation")
    max_multiple: float = spec(exclusiveMinimum=0)
    limit: CodeSetName


class OrdinalGrade(RuleParams):
    READS_OBSERVATIONS_IN_WINDOW = True
    type: Literal["ordinal_grade"]
    label: Label
    code_set: CodeSetName = reads("Observation")
    below: float
    # Shown after the grade number ("2" + "+" for a dipstick).
    grade_suffix: str = ""


class CodedValue(RuleParams):
    """The latest coded answer of an Observation (or component): met when it is in
    `met_values`, not_met when in `not_met_values`, unknown for any other answer.

    With no answer, unknown; `absence: not_met` accepts silence as a clear instead, but only
    when the record holds no result of the code set at all (of any status, readable or not)
    dated inside the window, undated or after the screening date."""

    READS_OBSERVATIONS_IN_WINDOW = True

    type: Literal["coded_value"]
    label: Label
    code_set: CodeSetName = reads("Observation")
    component: CodeSetName | None = reads("Observation", default=None)
    met_values: CodeSetName = reads("values")
    not_met_values: CodeSetName = reads("values")
    met_text: Label
    not_met_text: Label
    absence: Absence = "unknown"


class OrderedCategory(RuleParams):
    """A coded category on an ordered scale (AJCC cT/cN/cM): each answer code's group in
    `values` names a category; `aliases` expand a coarse category into the fine ones it
    may be (cT3 → cT3a…cT3d). met when every possibility lies in [min, max], not_met when
    none does, unknown otherwise (cT3 against "up to T3b")."""

    READS_OBSERVATIONS_IN_WINDOW = True

    type: Literal["ordered_category"]
    label: Label
    code_set: CodeSetName = reads("Observation")
    values: CodeSetName = reads("values")
    scale: list[Label] = spec(minItems=2)
    aliases: dict[str, list[Label]] = field(default_factory=dict)
    min: Label
    max: Label


class CockcroftGault(RuleParams):
    READS_OBSERVATIONS_IN_WINDOW = True
    READS_ALSO = ("Patient",)
    type: Literal["cockcroft_gault"]
    label: Label
    creatinine: CodeSetName = reads("Observation")
    weight: CodeSetName = reads("Observation")
    op: Op
    value: float


class DerivedProduct(RuleParams):
    """A value derived as factor × percent / 100 from two results of the same day (ANC
    from WBC × neutrophil %), compared with a threshold."""

    READS_OBSERVATIONS_IN_WINDOW = True

    type: Literal["derived_product"]
    label: Label
    factor: CodeSetName = reads("Observation")
    percent: CodeSetName = reads("Observation")
    op: Op
    value: float
    unit: Label


class ReportNumber(RuleParams):
    """A number from a coded Observation, else read from the conclusion of a final report of
    the named modality: the length stated just before the anchor phrase."""

    READS_OBSERVATIONS_IN_WINDOW = True

    READS_ALSO = ("DiagnosticReport",)
    type: Literal["report_number"]
    label: Label
    code_set: CodeSetName = reads("Observation")
    op: Op
    value: float
    unit: Label
    report_code_sets: list[CodeSetName] = reads("DiagnosticReport", minItems=1)
    anchor: Label
    modality: Label
    # DICOM modality codes (MR, CT, ES…) of the reports whose text counts: a report known to
    # be of another modality never decides (an endoscopy's distance is not an MRI's). Empty:
    # any report in `report_code_sets`.
    modalities: list[Modality] = field(default_factory=list)


class MeasurableDisease(RuleParams):
    READS_OBSERVATIONS_IN_WINDOW = True
    type: Literal["measurable_disease"]
    label: Label
    # What the flag records, in words ("RECIST"), for "no RECIST assessment".
    assessment: Label
    flag_code_set: CodeSetName = reads("Observation")
    size_code_set: CodeSetName = reads("Observation")
    min_size: float
    unit: Label


class MsiMmr(RuleParams):
    READS_OBSERVATIONS_IN_WINDOW = True
    type: Literal["msi_mmr"]
    msi: CodeSetName = reads("Observation")
    stable_values: CodeSetName = reads("values")
    high_values: CodeSetName = reads("values")
    proteins: list[CodeSetName] = reads("Observation", minItems=1)
    intact_values: CodeSetName = reads("values")
    loss_values: CodeSetName = reads("values")


# --------------------------------------------------------------------------- history
class NoActiveMedication(RuleParams):
    type: Literal["no_active_medication"]
    label: Label
    medication_code_sets: list[CodeSetName] = reads("Medication", minItems=1)
    why: Label


class MedicationHistory(RuleParams):
    """met when a medication of the classes was ordered or taken inside the window
    (active now, when `active_only`). With `min_days_active` ("long-term use"), an active
    one counts only when it dates from at least that many days before the screening
    date; one started since (or undated) is unknown: how long it will be taken is not
    recorded."""

    READS_HISTORY = True
    type: Literal["medication_history"]
    label: Label
    medication_code_sets: list[CodeSetName] = reads("Medication", minItems=1)
    active_only: bool
    absence: Absence
    min_days_active: int | None = spec(default=None, minimum=1)


class ProcedureHistory(RuleParams):
    """met when a done Procedure in the code sets is dated inside the window. One coded only
    in an `uncertain_code_sets` set (a code that may be the therapy or another: CPT 96413
    is a chemotherapy infusion or a complex biologic agent's) decides nothing: it keeps the
    rule unknown unless another procedure decides it."""

    READS_HISTORY = True
    type: Literal["procedure_history"]
    label: Label
    procedure_code_sets: list[CodeSetName] = reads("Procedure", minItems=1)
    uncertain_code_sets: list[CodeSetName] = reads("Procedure", default_factory=list)
    absence: Absence


class Allergy(RuleParams):
    type: Literal["allergy"]
    label: Label
    substance_code_sets: list[CodeSetName] = reads("AllergyIntolerance", minItems=1)
    absence: Absence


# --------------------------------------------------------------------------- attestations
class Attestation(RuleParams):
    """A person's confirmation recorded as a boolean Observation. With scope "trial" the
    Observation must name this trial's registry id in a component of `study_component`,
    so consent recorded for one trial never satisfies another."""

    READS_OBSERVATIONS_IN_WINDOW = True

    type: Literal["attestation"]
    label: Label
    code_set: CodeSetName = reads("Observation")
    scope: Literal["trial", "any"]
    study_component: CodeSetName | None = reads("Observation", default=None)

    def reads_trial(self) -> bool:
        return self.scope == "trial"


class PregnancyContraception(RuleParams):
    READS_ALSO = ("Patient",)
    type: Literal["pregnancy_contraception"]
    pregnancy_test: CodeSetName = reads("Observation")
    hcg_quantitative: CodeSetName = reads("Observation")
    pregnancy_status: CodeSetName = reads("Observation")
    positive_values: CodeSetName = reads("values")
    negative_values: CodeSetName = reads("values")
    pregnant_values: CodeSetName = reads("values")
    not_pregnant_values: CodeSetName = reads("values")
    postmenopausal: CodeSetName = reads("Condition")
    contraception: CodeSetName = reads("Observation")
    test_lookback_days: int = spec(minimum=1)
    hcg_negative_below: float = 5
    hcg_positive_from: float = 25


class StudyTeam(RuleParams):
    """A criterion FHIR data cannot decide: always unknown, with the reason shown."""

    type: Literal["study_team"]
    reason: Label


# --------------------------------------------------------------------------- logic
class AllOf(RuleParams):
    type: Literal["all_of"]
    rules: list["Rule"] = spec(minItems=1)

    def children(self) -> tuple[RuleParams, ...]:
        return tuple(self.rules)


class AnyOf(RuleParams):
    type: Literal["any_of"]
    rules: list["Rule"] = spec(minItems=1)

    def children(self) -> tuple[RuleParams, ...]:
        return tuple(self.rules)


class FirstDecided(RuleParams):
    """Routes in order of preference; the first that decides wins. With `newest`, the
    decided route with the newest dated evidence wins instead (a direct ANC and one derived
    from a later blood count: the later measurement is the patient's current value)."""

    type: Literal["first_decided"]
    rules: list["Rule"] = spec(minItems=1)
    newest: bool = False

    def children(self) -> tuple[RuleParams, ...]:
        return tuple(self.rules)


class Not(RuleParams):
    type: Literal["not"]
    rule: "Rule"

    def children(self) -> tuple[RuleParams, ...]:
        return (self.rule,)


class When(RuleParams):
    """`then` applies only when `condition` holds; otherwise the result is `otherwise`
    ("APTT ≤ 1.5 × ULN for those not receiving anticoagulation")."""

    type: Literal["when"]
    condition: "Rule"
    then: "Rule"
    otherwise: Literal["met", "not_met"]
    otherwise_text: Label

    def children(self) -> tuple[RuleParams, ...]:
        return (self.condition, self.then)


Rule = Annotated[
    Union[  # noqa: UP007 - the members are listed one per line; the schema names each
        AgeRange,
        Deceased,
        Sex,
        Diagnosis,
        ConditionPresent,
        Histology,
        DistinctCount,
        Oligometastases,
        LabThreshold,
        LabUlnMultiple,
        OrdinalGrade,
        CodedValue,
        OrderedCategory,
        CockcroftGault,
        DerivedProduct,
        ReportNumber,
        MeasurableDisease,
        MsiMmr,
        NoActiveMedication,
        MedicationHistory,
        ProcedureHistory,
        Allergy,
        Attestation,
        PregnancyContraception,
        StudyTeam,
        AllOf,
        AnyOf,
        FirstDecided,
        Not,
        When,
    ],
    keywords(**{"$ref": "#/$defs/rule"}),
]
RULE_CLASSES: tuple[type[RuleParams], ...] = typing.get_args(typing.get_args(Rule)[0])


Convert = Callable[[Any], Any]
_FIELD_TYPES: dict[type[RuleParams], dict[str, Any]] = {}
_CONVERTERS: dict[type[RuleParams], dict[str, Convert]] = {}


# The forward references to a nested rule, as the classes' annotations hold them.
_FORWARD: dict[Any, Any] = {"Rule": Rule, list["Rule"]: list[Rule]}


def field_types(model: type[RuleParams]) -> dict[str, Any]:
    """Each field's type, `Annotated` metadata kept."""
    found = _FIELD_TYPES.get(model)
    if found is None:
        fields = dataclasses.fields(model)  # type: ignore[arg-type]
        found = _FIELD_TYPES[model] = {f.name: _FORWARD.get(f.type, f.type) for f in fields}
    return found


def _type_name(model: type[RuleParams]) -> str:
    (name,) = typing.get_args(field_types(model)["type"])
    return str(name)


RULE_MODELS: dict[str, type[RuleParams]] = {_type_name(m): m for m in RULE_CLASSES}


def _identity(value: Any) -> Any:
    return value


def _converter(tp: Any) -> Convert:
    """How a JSON value already valid for `tp` becomes the field's value: numbers take the
    field's type (a definition's `2` is the float 2.0), nested rules are built, and lists
    and maps are copied so a rule never shares them with the raw definition."""
    if tp is Rule:
        return lambda raw: parse_rule(raw, validated=True)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Annotated:
        return _converter(args[0])
    if tp is float or tp is int:
        return tp
    if origin is list:
        item = _converter(args[0])
        return lambda raw: [item(v) for v in raw]
    if origin is dict:
        value = _converter(args[1])
        return lambda raw: {k: value(v) for k, v in raw.items()}
    if origin is Union or origin is types.UnionType:
        (inner,) = (a for a in args if a is not type(None))
        some = _converter(inner)
        return lambda raw: None if raw is None else some(raw)
    return _identity


def _converters(model: type[RuleParams]) -> dict[str, Convert]:
    found = _CONVERTERS.get(model)
    if found is None:
        found = _CONVERTERS[model] = {n: _converter(tp) for n, tp in field_types(model).items()}
    return found


@cache
def _rule_validator() -> Any:
    import jsonschema_rs

    defs = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]
    return jsonschema_rs.validator_for({"$ref": "#/$defs/rule", "$defs": defs})


def parse_rule(raw: Any, *, validated: bool = False) -> RuleParams:
    """One rule, typed. Unless `validated` (the caller checked it against the definition
    schema, as the loader does for a whole file), it is checked here first and a
    RuleError names the first bad key."""
    if not validated:
        error = next(iter(_rule_validator().iter_errors(raw)), None)
        if error is not None:
            path = "/" + "/".join(str(p) for p in error.instance_path)
            raise RuleError(path, error.message)
    model = RULE_MODELS[raw["type"]]
    converters = _converters(model)
    return model(**{key: converters[key](value) for key, value in raw.items()})
