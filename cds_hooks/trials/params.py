"""Typed parameters of every rule type: the one source of truth for the criteria language.

Each rule type is one pydantic model; a rule carries exactly its model's keys (extra keys
are refused, so a rule can never carry another rule's parameters). The `rule` part of
`trial-definition.schema.json` is generated from these models (`python -m
cds_hooks.trials.schema`), and a test checks that the committed schema is that output.

Fields that name a code set say what the engine reads through them (`x-reads`): a
resource type, or "values" for sets of coded answers matched inside resources already
read. Prefetch templates and the FHIR fetches are derived from these reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from fhir_mappings.medications import MEDICATION_TYPES

CodeSetName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Label = Annotated[str, Field(min_length=1)]
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


def reads(kind: ReadKind, **extra: Any) -> Any:
    return Field(json_schema_extra={"x-reads": kind}, **extra)


@dataclass(frozen=True, slots=True)
class Read:
    """One thing a rule reads: a resource type, optionally through a code set.

    `all_statuses` is set by rules that read history (a medication stopped a year ago
    still counts), so the fetch must not filter on status=active.
    """

    resource_type: str
    code_set: str | None = None
    all_statuses: bool = False


class RuleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Resource types read without a code set (e.g. Patient for age).
    READS_ALSO: ClassVar[tuple[str, ...]] = ()
    # Rules reading history (any status) rather than what is active now.
    READS_HISTORY: ClassVar[bool] = False
    # Rules whose evaluator looks at their Observations only inside the criterion's window
    # (`Screening.latest`, `latest_single`, or a `window.contains` filter): for them an
    # older result can only ever be named as "the latest, too old", so the record need not
    # build the results behind it (`observation_horizons`). False means no such bound.
    READS_OBSERVATIONS_IN_WINDOW: ClassVar[bool] = False

    type: str

    def children(self) -> tuple[RuleParams, ...]:
        return ()

    def own_reads(self) -> Iterator[Read]:
        for resource_type in self.READS_ALSO:
            yield Read(resource_type, None, self.READS_HISTORY)
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            if not isinstance(extra, dict) or "x-reads" not in extra:
                continue
            kind = str(extra["x-reads"])
            value = getattr(self, name)
            names = [value] if isinstance(value, str) else list(value or ())
            types = sorted(MEDICATION_TYPES) if kind == "Medication" else (kind,)
            for code_set in names:
                for resource_type in types:
                    yield Read(resource_type, code_set, self.READS_HISTORY)

    def reads_trial(self) -> bool:
        """Whether the outcome depends on which trial is being screened."""
        return False

    def walk(self) -> Iterator[RuleParams]:
        yield self
        for child in self.children():
            yield from child.walk()

    def all_reads(self) -> Iterator[Read]:
        for rule in self.walk():
            yield from rule.own_reads()


# --------------------------------------------------------------------------- patient
class AgeRange(RuleParams):
    READS_ALSO = ("Patient",)
    type: Literal["age_range"]
    label: Label
    min: int = Field(ge=0)
    max: int | None = Field(default=None, ge=0)


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
    confirmed_code_sets: list[CodeSetName] = reads("Condition", min_length=1)
    disease_code_sets: list[CodeSetName] = reads("Condition", min_length=1)
    histology_code_sets: list[CodeSetName] = reads("values", min_length=1)
    # Pathology Observations (e.g. LOINC 59847-4) whose coded value states the histology:
    # read like a pathology report's conclusion.
    pathology_code_sets: list[CodeSetName] = reads("Observation", default=[])
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
    code_sets: list[CodeSetName] = reads("Condition", min_length=1)
    except_code_sets: list[CodeSetName] = reads("Condition", default_factory=list)
    uncertain_code_sets: list[CodeSetName] = reads("Condition", default_factory=list)
    active_only: bool
    within_days: int | None = Field(default=None, ge=1)
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
    histology_code_sets: list[CodeSetName] = reads("values", min_length=1)
    disease_code_sets: list[CodeSetName] = reads("Condition", min_length=1)
    pathology_code_sets: list[CodeSetName] = reads("Observation", default=[])


class DistinctCount(RuleParams):
    """The number of distinct groups (e.g. organ sites) among matching active Conditions."""

    type: Literal["distinct_count"]
    label: Label
    code_sets: list[CodeSetName] = reads("Condition", min_length=1)
    group_code_set: CodeSetName = reads("values")
    op: Op
    value: int = Field(ge=0)


class Oligometastases(RuleParams):
    READS_OBSERVATIONS_IN_WINDOW = True
    type: Literal["oligometastases"]
    secondary_code_sets: list[CodeSetName] = reads("Condition", min_length=1)
    body_site_code_set: CodeSetName = reads("values")
    lesion_count: CodeSetName = reads("Observation")
    site_count: CodeSetName = reads("Observation")
    m_stage: CodeSetName = reads("Observation")
    m0_values: CodeSetName = reads("values")
    max_sites: int = Field(ge=0)
    max_lesions: int = Field(ge=0)
    synchronous_within_days: int | None = Field(default=None, ge=0)
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
    max_multiple: float = Field(gt=0)
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
    scale: list[Label] = Field(min_length=2)
    aliases: dict[str, list[Label]] = Field(default_factory=dict)
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
    report_code_sets: list[CodeSetName] = reads("DiagnosticReport", min_length=1)
    anchor: Label
    modality: Label
    # DICOM modality codes (MR, CT, ES…) of the reports whose text counts: a report known to
    # be of another modality never decides (an endoscopy's distance is not an MRI's). Empty:
    # any report in `report_code_sets`.
    modalities: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]] = []


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
    proteins: list[CodeSetName] = reads("Observation", min_length=1)
    intact_values: CodeSetName = reads("values")
    loss_values: CodeSetName = reads("values")


# --------------------------------------------------------------------------- history
class NoActiveMedication(RuleParams):
    type: Literal["no_active_medication"]
    label: Label
    medication_code_sets: list[CodeSetName] = reads("Medication", min_length=1)
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
    medication_code_sets: list[CodeSetName] = reads("Medication", min_length=1)
    active_only: bool
    absence: Absence
    min_days_active: int | None = Field(default=None, ge=1)


class ProcedureHistory(RuleParams):
    """met when a done Procedure in the code sets is dated inside the window. One coded only
    in an `uncertain_code_sets` set (a code that may be the therapy or another: CPT 96413
    is a chemotherapy infusion or a complex biologic agent's) decides nothing: it keeps the
    rule unknown unless another procedure decides it."""

    READS_HISTORY = True
    type: Literal["procedure_history"]
    label: Label
    procedure_code_sets: list[CodeSetName] = reads("Procedure", min_length=1)
    uncertain_code_sets: list[CodeSetName] = reads("Procedure", default_factory=list)
    absence: Absence


class Allergy(RuleParams):
    type: Literal["allergy"]
    label: Label
    substance_code_sets: list[CodeSetName] = reads("AllergyIntolerance", min_length=1)
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
    test_lookback_days: int = Field(ge=1)
    hcg_negative_below: float = 5
    hcg_positive_from: float = 25


class StudyTeam(RuleParams):
    """A criterion FHIR data cannot decide: always unknown, with the reason shown."""

    type: Literal["study_team"]
    reason: Label


# --------------------------------------------------------------------------- logic
class AllOf(RuleParams):
    type: Literal["all_of"]
    rules: list[Rule] = Field(min_length=1)

    def children(self) -> tuple[RuleParams, ...]:
        return tuple(self.rules)


class AnyOf(RuleParams):
    type: Literal["any_of"]
    rules: list[Rule] = Field(min_length=1)

    def children(self) -> tuple[RuleParams, ...]:
        return tuple(self.rules)


class FirstDecided(RuleParams):
    """Routes in order of preference; the first that decides wins. With `newest`, the
    decided route with the newest dated evidence wins instead (a direct ANC and one derived
    from a later blood count: the later measurement is the patient's current value)."""

    type: Literal["first_decided"]
    rules: list[Rule] = Field(min_length=1)
    newest: bool = False

    def children(self) -> tuple[RuleParams, ...]:
        return tuple(self.rules)


class Not(RuleParams):
    type: Literal["not"]
    rule: Rule

    def children(self) -> tuple[RuleParams, ...]:
        return (self.rule,)


class When(RuleParams):
    """`then` applies only when `condition` holds; otherwise the result is `otherwise`
    ("APTT ≤ 1.5 × ULN for those not receiving anticoagulation")."""

    type: Literal["when"]
    condition: Rule
    then: Rule
    otherwise: Literal["met", "not_met"]
    otherwise_text: Label

    def children(self) -> tuple[RuleParams, ...]:
        return (self.condition, self.then)


Rule = Annotated[
    Union[  # noqa: UP007 - a discriminated union needs the Union form for pydantic's schema
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
    Field(discriminator="type"),
]
for _model in (AllOf, AnyOf, FirstDecided, Not, When):
    _model.model_rebuild()

RULE_ADAPTER: TypeAdapter[Any] = TypeAdapter(Rule)
RULE_MODELS: dict[str, type[RuleParams]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in RuleParams.__subclasses__()
}


def parse_rule(raw: Any) -> RuleParams:
    """Validate one rule (raises pydantic.ValidationError)."""
    rule: RuleParams = RULE_ADAPTER.validate_python(raw)
    return rule
