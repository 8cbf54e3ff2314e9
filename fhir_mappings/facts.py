"""Typed clinical facts read from FHIR R4 resources.

Facts keep only what eligibility needs, plus the resource reference that proves it. They are
plain frozen dataclasses (no pydantic) because the hook hot path builds hundreds per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from datetime import time as ClockTime

# A coding reduced to what matching needs: (system, code). Matching is exact on both.
Code = tuple[str, str]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True, slots=True)
class Quantity:
    """A measured value. `unit` is a UCUM code when the source gave one, else its unit text."""

    value: float
    unit: str | None
    comparator: str | None = None  # one of <, <=, >=, > (FHIR QuantityComparator)
    # Significant digits as reported ("6.2" → 2), so a converted value can be compared at
    # the lab's precision (6.2 mmol/L haemoglobin is 10 g/dL, not 9.99). None: not known.
    precision: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    low: Quantity | None = None
    high: Quantity | None = None
    text: str | None = None
    # Codes of referenceRange.appliesTo (e.g. male/female) so sex-specific ranges can be chosen.
    applies_to: frozenset[Code] = frozenset()
    # referenceRange.age in years (low inclusive, high inclusive), when the lab gave one.
    age_low: float | None = None
    age_high: float | None = None
    # Set when the lab gave a range that cannot be read (text we cannot parse, a bad
    # quantity): the ULN is then unknown, which is not the same as "no range given".
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ObservationValue:
    """The value[x] of an Observation or of one of its components."""

    quantity: Quantity | None = None
    codes: frozenset[Code] = frozenset()  # valueCodeableConcept codings
    text: str | None = None  # valueString, or valueCodeableConcept.text
    integer: int | None = None  # valueInteger
    boolean: bool | None = None  # valueBoolean
    data_absent_reason: str | None = None

    @property
    def is_empty(self) -> bool:
        return (
            self.quantity is None
            and not self.codes
            and self.text is None
            and self.integer is None
            and self.boolean is None
        )


@dataclass(frozen=True, slots=True)
class ObservationComponent:
    codes: frozenset[Code]
    value: ObservationValue
    reference_ranges: tuple[ReferenceRange, ...] = ()


@dataclass(frozen=True, slots=True)
class ObservationFact:
    ref: str  # "Observation/<id>"
    codes: frozenset[Code]
    status: str | None
    date: date | None  # effective[x] (dateTime, Period start, instant); else issued
    value: ObservationValue
    reference_ranges: tuple[ReferenceRange, ...] = ()
    components: tuple[ObservationComponent, ...] = ()
    interpretation: frozenset[Code] = frozenset()
    display: str | None = None  # code.text or first coding display, for humans
    # Set when the resource could not be read well enough to use (bad date, bad value,
    # an implausible value: "implausible value: ..."). The engine then never compares it.
    problem: str | None = None
    # Time of day as written, when effective[x] has one: orders same-day results.
    time: ClockTime | None = None
    # DICOM modality (MR, CT, ES...) from the code or category, when known.
    modality: str | None = None
    category: frozenset[Code] = frozenset()

    @property
    def decides(self) -> bool:
        """A result a search for the latest value may stop at (inside its window) or name
        as the latest, too old (outside it): counted status, readable, with a value."""
        return (
            self.status in COUNTED_OBSERVATION_STATUSES
            and self.problem is None
            and self.value.data_absent_reason is None
            and not (self.value.is_empty and not self.components)
        )


# Observation statuses whose value counts (FHIR R4 ObservationStatus).
COUNTED_OBSERVATION_STATUSES = frozenset({"final", "amended", "corrected"})

# Condition.verificationStatus codes that mean "suspected, not established".
SUSPECTED_VERIFICATION = frozenset({"provisional", "differential", "unconfirmed"})
# Ends the verification status of a Condition or an allergy that sent one no FHIR code
# could be read from (a local "EIE"): it may say "refuted", so it never counts as confirmed.
UNREAD_VERIFICATION = ", not a FHIR verification status"


# `date` as a type, for classes with a field of that name.
Day = date


@dataclass(frozen=True, slots=True)
class ConditionFact:
    ref: str
    codes: frozenset[Code]
    clinical_status: str | None
    verification_status: str | None
    date: date | None  # onset[x] (dateTime/Period start), else recordedDate
    body_sites: frozenset[Code] = frozenset()
    # mCODE histology-morphology-behavior extension codings (ICD-O-3 / SNOMED morphology).
    histology: frozenset[Code] = frozenset()
    # meta.profile URLs, e.g. mCODE primary/secondary cancer condition.
    profiles: frozenset[str] = frozenset()
    category: frozenset[Code] = frozenset()
    display: str | None = None
    problem: str | None = None
    # Suspected, not confirmed: verificationStatus provisional / differential / unconfirmed,
    # or a national certainty marker (ICD-10-GM Diagnosesicherheit "V").
    suspected: bool = False
    # "Status post" (ICD-10-GM Diagnosesicherheit "Z", Zustand nach): the condition was
    # there; whether it still is, is not said (a resected tumour, a treated infection).
    status_post: bool = False
    # abatement[x] as recorded ("2026-01-15", "age 61 a", "yes"), when clinicalStatus does
    # not say the condition is over: an abated condition may be gone, whatever the status
    # (FHIR requires inactive, resolved or remission then; not every EHR keeps to it).
    abated: str | None = None
    # When onset[x] was only partial ("2025", "2025-06") and `date` is the recordedDate
    # that stood in: the first and last day the onset can be. The event may be older than
    # `date`, so a question about when it happened cannot be answered from `date` alone.
    onset_span: tuple[Day, Day] | None = None


@dataclass(frozen=True, slots=True)
class ProcedureFact:
    ref: str
    codes: frozenset[Code]
    status: str | None
    date: date | None
    body_sites: frozenset[Code] = frozenset()
    display: str | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class MedicationFact:
    ref: str  # "MedicationRequest/<id>", "MedicationDispense/<id>", ...
    resource_type: str  # one of fhir_mappings.medications.MEDICATION_TYPES
    # medicationCodeableConcept codings, or those of the referenced/contained Medication.
    codes: frozenset[Code]
    status: str | None
    intent: str | None  # MedicationRequest only
    date: date | None  # authoredOn / effective[x] / dateAsserted / whenHandedOver
    display: str | None = None
    problem: str | None = None
    # Listed drugs named by the order's text/display when none of its codes is recognised
    # ("apixaban"): the order may be one of them, so "none active" cannot be said.
    possible_drugs: tuple[str, ...] = ()
    possible_codes: frozenset[Code] = frozenset()  # their ingredient RxNorm / ATC codes
    # Coded in RxNorm only by codes the ingredient map does not place (neither a listed
    # ingredient nor a listed product), with no name at all (no text, no display): an
    # RxNorm code may be any drug's product, so which drug this is cannot be told.
    unplaced: bool = False
    # MedicationDispense.daysSupply in days, when given in a unit of time.
    supply_days: int | None = None


@dataclass(frozen=True, slots=True)
class DiagnosticReportFact:
    ref: str
    codes: frozenset[Code]
    status: str | None
    date: date | None
    conclusion: str | None = None
    conclusion_codes: frozenset[Code] = frozenset()
    result_refs: tuple[str, ...] = ()
    display: str | None = None
    problem: str | None = None
    time: ClockTime | None = None
    # DICOM modality (MR, CT, ES...) from the code, category or code text, when known;
    # "conflicting" when they disagree.
    modality: str | None = None
    category: frozenset[Code] = frozenset()


@dataclass(frozen=True, slots=True)
class AllergyFact:
    ref: str  # "AllergyIntolerance/<id>"
    # code and reaction.substance codings: what the patient reacts to.
    codes: frozenset[Code]
    clinical_status: str | None
    verification_status: str | None
    date: date | None  # onset[x], else recordedDate
    display: str | None = None
    problem: str | None = None
    # As for medications (`MedicationFact`): listed drugs its text names when none of its
    # codes is recognised, their codes, and whether it is coded only by unnamed RxNorm
    # codes the drug list does not place.
    possible_drugs: tuple[str, ...] = ()
    possible_codes: frozenset[Code] = frozenset()
    unplaced: bool = False


@dataclass(frozen=True, slots=True)
class PatientFact:
    ref: str  # "Patient/<id>"
    birth_date: date | None
    # "year", "month" or "day": a partial birthDate makes age uncertain near the boundary.
    birth_date_precision: str | None
    gender: str | None  # administrative gender: male | female | other | unknown
    deceased: bool = False
    # deceasedDateTime as read (any precision); None without one, or when unreadable.
    deceased_date: date | None = None
    # Set when deceased[x] is present but cannot be read (deceasedBoolean "true"): whether
    # the patient died is then unknown, never "no".
    deceased_problem: str | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """Everything known about one patient, as facts.

    `unavailable` names the resource types that could not be obtained (e.g. the FHIR server
    failed), mapped to a human reason; criteria that depend on them evaluate to `unknown`.
    `skipped` lists resources that were present but unusable, with the reason, so that
    nothing is dropped silently.
    """

    patient: PatientFact
    observations: tuple[ObservationFact, ...] = ()
    conditions: tuple[ConditionFact, ...] = ()
    procedures: tuple[ProcedureFact, ...] = ()
    medications: tuple[MedicationFact, ...] = ()
    reports: tuple[DiagnosticReportFact, ...] = ()
    allergies: tuple[AllergyFact, ...] = ()
    unavailable: Mapping[str, str] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()
    # Read for this screening date: Observations older than every window that reads them
    # were counted (`older_observations`) but not built into facts, so the record may be
    # screened for this date or a later one, never an earlier one (`fhir_mappings.record`).
    read_for: date | None = None
    older_observations: int = 0

    def skipped_json(self) -> list[dict[str, str]]:
        """`skipped` as JSON objects, for outputs that must show what was not used."""
        return [{"reference": ref, "reason": reason} for ref, reason in self.skipped]
