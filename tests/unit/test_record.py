"""build_record: one patient's resources → PatientRecord; Patient, Procedure and
DiagnosticReport readers; nothing unreadable ever raises or vanishes."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_mappings.facts import ATC, LOINC, RXNORM, SNOMED, UCUM
from fhir_mappings.patient import parse_patient
from fhir_mappings.procedures import parse_procedure
from fhir_mappings.record import RecordError, build_record
from fhir_mappings.reports import parse_report

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "gender": "female",
    "birthDate": "1966-04-30",
}


def obs(oid: str, day: str | None, **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "718-7"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 11.8, "system": UCUM, "code": "g/dL"},
    }
    if day is not None:
        resource["effectiveDateTime"] = day
    resource.update(extra)
    return resource


# --------------------------------------------------------------------------- Patient
@pytest.mark.parametrize(
    ("birth", "value", "precision"),
    [
        ("1966-04-30", date(1966, 4, 30), "day"),
        ("1966-04", date(1966, 4, 1), "month"),
        ("1966", date(1966, 1, 1), "year"),
        (None, None, None),
    ],
)
def test_patient_birth_date_and_precision(
    birth: str | None, value: date | None, precision: str | None
) -> None:
    fact = parse_patient({**PATIENT, "birthDate": birth})
    assert (fact.birth_date, fact.birth_date_precision) == (value, precision)
    assert fact.ref == "Patient/p1"
    assert fact.gender == "female"
    assert fact.problem is None


def test_patient_unreadable_birth_date_is_a_problem() -> None:
    fact = parse_patient({**PATIENT, "birthDate": "30/04/1966"})
    assert fact.birth_date is None
    assert fact.problem == "birthDate '30/04/1966' is not a FHIR date or dateTime"


@pytest.mark.parametrize(
    ("extra", "deceased"),
    [
        ({}, False),
        ({"deceasedBoolean": False}, False),
        ({"deceasedBoolean": True}, True),
        ({"deceasedDateTime": "2026-02-01"}, True),
        ({"deceasedBoolean": "true"}, False),  # a string is not FHIR's boolean
    ],
)
def test_patient_deceased(extra: dict[str, Any], deceased: bool) -> None:
    assert parse_patient({**PATIENT, **extra}).deceased is deceased


def test_patient_gender_that_is_not_a_string_is_none() -> None:
    assert parse_patient({**PATIENT, "gender": {"code": "F"}}).gender is None


# --------------------------------------------------------------------------- Procedure
def test_procedure() -> None:
    fact = parse_procedure(
        {
            "resourceType": "Procedure",
            "id": "rt",
            "status": "completed",
            "code": {
                "coding": [{"system": SNOMED, "code": "1287742003", "display": "Radiotherapy"}]
            },
            "subject": {"reference": "Patient/p1"},
            "performedPeriod": {"start": "2026-01-05T09:00:00+01:00", "end": "2026-01-09"},
            "bodySite": [{"coding": [{"system": SNOMED, "code": "34402009"}]}],
        }
    )
    assert fact.ref == "Procedure/rt"
    assert fact.codes == {(SNOMED, "1287742003")}
    assert fact.status == "completed"
    assert fact.date == date(2026, 1, 5)
    assert fact.body_sites == {(SNOMED, "34402009")}
    assert fact.display == "Radiotherapy"
    assert fact.problem is None


def test_procedure_partial_date_is_a_problem() -> None:
    fact = parse_procedure({"resourceType": "Procedure", "id": "x", "performedDateTime": "2025"})
    assert fact.date is None
    assert fact.problem == "performed date is not a full date ('2025', precision year)"


# --------------------------------------------------------------------------- DiagnosticReport
MRI = {
    "resourceType": "DiagnosticReport",
    "id": "mri",
    "status": "final",
    "code": {
        "coding": [{"system": LOINC, "code": "24558-9", "display": "MR Pelvis"}],
        "text": "MRI pelvis (rectal protocol)",
    },
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2026-02-18T16:40:00-05:00",
    "issued": "2026-02-19T08:00:00-05:00",
    "conclusion": "Low rectal tumour, lower edge 45 mm above the anal verge. mrT3b N1.",
    "conclusionCode": [{"coding": [{"system": SNOMED, "code": "363351006"}]}],
    "result": [{"reference": "Observation/size"}, {"reference": "urn:uuid:abc"}, {}],
}


def test_report() -> None:
    fact = parse_report(MRI)
    assert fact.ref == "DiagnosticReport/mri"
    assert fact.codes == {(LOINC, "24558-9")}
    assert fact.date == date(2026, 2, 18)
    assert fact.conclusion is not None
    assert "45 mm above the anal verge" in fact.conclusion
    assert fact.conclusion_codes == {(SNOMED, "363351006")}
    assert fact.result_refs == ("Observation/size", "urn:uuid:abc")
    assert fact.display == "MRI pelvis (rectal protocol)"
    assert fact.problem is None


def test_report_dates_follow_the_observation_rule() -> None:
    assert parse_report({**MRI, "effectiveDateTime": None}).date == date(2026, 2, 19)
    partial = parse_report({**MRI, "effectiveDateTime": "2026-02"})
    assert partial.date is None
    assert partial.problem is not None
    assert partial.problem.startswith("effective date is not a full date")


# --------------------------------------------------------------------------- build_record
def test_record_sorts_newest_first_with_undated_last() -> None:
    record = build_record(
        [
            obs("old", "2025-12-01"),
            PATIENT,
            obs("undated", None),
            obs("new", "2026-02-28T07:00:00Z"),
            obs("mid", "2026-02-01"),
            obs("partial", "2026-02"),
        ]
    )
    assert [o.ref.split("/")[1] for o in record.observations] == [
        "new",
        "mid",
        "old",
        "undated",
        "partial",
    ]
    assert record.patient.ref == "Patient/p1"
    assert record.skipped == ()


def test_record_sorts_every_family() -> None:
    condition = {
        "resourceType": "Condition",
        "id": "c-old",
        "subject": {"reference": "Patient/p1"},
        "recordedDate": "2020-01-01",
    }
    record = build_record(
        [
            PATIENT,
            condition,
            {**condition, "id": "c-new", "recordedDate": "2026-01-01"},
            {**MRI, "id": "r-old", "effectiveDateTime": "2025-01-01"},
            MRI,
        ]
    )
    assert [c.ref for c in record.conditions] == ["Condition/c-new", "Condition/c-old"]
    assert [r.ref for r in record.reports] == ["DiagnosticReport/mri", "DiagnosticReport/r-old"]


def test_no_patient() -> None:
    with pytest.raises(RecordError, match=r"^no Patient resource$"):
        build_record([obs("a", "2026-02-01")])
    with pytest.raises(RecordError, match="no Patient"):
        build_record([])


def test_two_patients_are_refused_with_the_count_and_no_ids() -> None:
    with pytest.raises(RecordError, match=r"^2 different Patient resources") as caught:
        build_record([PATIENT, {**PATIENT, "id": "p2"}, obs("a", "2026-02-01")])
    assert "p2" not in str(caught.value)  # messages may be logged: no patient identifiers


def test_patient_without_id_is_refused() -> None:
    with pytest.raises(RecordError, match="has no id"):
        build_record([{**PATIENT, "id": None}])


def test_same_patient_twice_is_one_patient() -> None:
    record = build_record([PATIENT, copy.deepcopy(PATIENT), obs("a", "2026-02-01")])
    assert record.patient.ref == "Patient/p1"


def test_same_patient_twice_with_conflicting_content_is_refused() -> None:
    with pytest.raises(RecordError, match="appears twice"):
        build_record([PATIENT, {**PATIENT, "birthDate": "1956-04-30"}])


def test_other_patients_resources_are_skipped_with_a_reason() -> None:
    record = build_record(
        [
            PATIENT,
            obs("mine", "2026-02-01"),
            obs("theirs", "2026-02-02", subject={"reference": "Patient/p2"}),
            obs(
                "abs",
                "2026-02-03",
                subject={"reference": "https://ehr.example.org/fhir/Patient/p1"},
            ),
            {
                "resourceType": "MedicationRequest",
                "id": "rx",
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/p2"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1364430"}]},
            },
            obs("group", "2026-02-04", subject={"reference": "Group/ward-7"}),
        ]
    )
    assert [o.ref for o in record.observations] == ["Observation/abs", "Observation/mine"]
    assert record.medications == ()
    assert record.skipped == (
        ("Observation/theirs", "belongs to Patient/p2, not Patient/p1"),
        ("MedicationRequest/rx", "belongs to Patient/p2, not Patient/p1"),
        ("Observation/group", "belongs to Group/ward-7, not Patient/p1"),
    )


def test_transaction_style_urn_references() -> None:
    patient = {**PATIENT, "id": "7b1e2c4a-0000-4c1d-9f00-1a2b3c4d5e6f"}
    urn = f"urn:uuid:{patient['id']}"
    med = {
        "resourceType": "Medication",
        "id": "0f3c9e1e-4d7e-4b0b-9a53-2f1f4d8f9c11",
        "code": {"coding": [{"system": RXNORM, "code": "1364430"}]},
    }
    request = {
        "resourceType": "MedicationRequest",
        "id": "rx",
        "status": "active",
        "intent": "order",
        "subject": {"reference": urn},
        "medicationReference": {"reference": f"urn:uuid:{med['id']}"},
    }
    record = build_record(
        [patient, med, request, obs("a", "2026-02-01", subject={"reference": urn})]
    )
    assert [o.ref for o in record.observations] == ["Observation/a"]
    (fact,) = record.medications
    assert fact.codes == {(RXNORM, "1364430")}
    assert fact.problem is None


def test_medication_reference_is_resolved_from_the_record() -> None:
    med = {
        "resourceType": "Medication",
        "id": "eliquis",
        "code": {"coding": [{"system": RXNORM, "code": "1364445"}]},
    }
    request = {
        "resourceType": "MedicationRequest",
        "id": "rx",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/eliquis"},
    }
    # The Medication may come after the order that references it.
    (fact,) = build_record([PATIENT, request, med]).medications
    # The clinical drug (SCD) maps to its ingredient's RxNorm and ATC codes.
    assert fact.codes == {(RXNORM, "1364445"), (RXNORM, "1364430"), (ATC, "B01AF02")}


def test_resources_without_id_and_non_objects_are_listed_not_dropped() -> None:
    # Input typed as Mapping, but JSON from outside can hold anything.
    given: list[Any] = [PATIENT, obs("x", "2026-02-01", id=None), "Observation/1", None]
    record = build_record(given)
    assert record.observations == ()
    assert record.skipped == (
        ("(input item 2)", "not a FHIR resource (not an object)"),
        ("(input item 3)", "not a FHIR resource (not an object)"),
        ("Observation/(no id)", "the resource has no id"),
    )


def test_unknown_types_are_ignored_and_unavailable_is_kept() -> None:
    record = build_record(
        [
            PATIENT,
            {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/p2"}},
            {"resourceType": "OperationOutcome", "issue": []},
        ],
        unavailable={"Observation": "FHIR server timed out"},
    )
    assert record.skipped == ()
    assert record.unavailable == {"Observation": "FHIR server timed out"}


def test_duplicates_collapse_and_the_newer_version_wins() -> None:
    v1 = obs("dup", "2026-02-01", meta={"versionId": "1"}, status="preliminary")
    v2 = obs("dup", "2026-02-01", meta={"versionId": "2"}, status="final")
    record = build_record([PATIENT, v2, v1, copy.deepcopy(v2)])
    (fact,) = record.observations
    assert fact.status == "final"
    assert record.skipped == ()

    t1 = obs("dup", "2026-02-01", meta={"lastUpdated": "2026-02-01T10:00:00Z"}, status="final")
    t0 = obs("dup", "2026-02-01", meta={"lastUpdated": "2026-02-01T06:00:00-05:00"})
    t0["valueQuantity"] = {"value": 9.9, "system": UCUM, "code": "g/dL"}
    # 06:00-05:00 is 11:00Z: later than 10:00Z although its text sorts first.
    (fact,) = build_record([PATIENT, t0, t1]).observations
    assert fact.value.quantity is not None
    assert fact.value.quantity.value == 9.9


def test_conflicting_versions_that_cannot_be_ordered_are_both_skipped() -> None:
    a = obs("dup", "2026-02-01")
    b = obs("dup", "2026-02-01", valueQuantity={"value": 7.2, "system": UCUM, "code": "g/dL"})
    record = build_record([PATIENT, a, b, obs("other", "2026-01-01")])
    assert [o.ref for o in record.observations] == ["Observation/other"]
    assert record.skipped == (
        ("Observation/dup", "appears twice with different content; cannot tell which is current"),
    )


# --------------------------------------------------------------------------- robustness
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = [
    "id",
    "status",
    "intent",
    "code",
    "subject",
    "patient",
    "effectiveDateTime",
    "effectivePeriod",
    "effectiveInstant",
    "issued",
    "valueQuantity",
    "valueCodeableConcept",
    "valueInteger",
    "valueBoolean",
    "valueString",
    "dataAbsentReason",
    "referenceRange",
    "component",
    "interpretation",
    "clinicalStatus",
    "verificationStatus",
    "onsetDateTime",
    "onsetPeriod",
    "recordedDate",
    "bodySite",
    "extension",
    "meta",
    "category",
    "medicationCodeableConcept",
    "medicationReference",
    "contained",
    "authoredOn",
    "dateAsserted",
    "performedDateTime",
    "performedPeriod",
    "conclusion",
    "conclusionCode",
    "result",
    "birthDate",
    "gender",
    "deceasedBoolean",
    "deceasedDateTime",
    "ingredient",
]
TYPES = [
    "Observation",
    "Condition",
    "Procedure",
    "DiagnosticReport",
    "MedicationRequest",
    "MedicationStatement",
    "Medication",
    "Encounter",
]


@st.composite
def garbage_resource(draw: st.DrawFn) -> dict[str, Any]:
    resource = draw(st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8))
    resource["resourceType"] = draw(st.sampled_from(TYPES))
    return resource


@settings(max_examples=300, deadline=None)
@given(
    resources=st.lists(garbage_resource(), max_size=6),
    patient=st.dictionaries(
        st.sampled_from(["birthDate", "gender", "deceasedBoolean", "deceasedDateTime"]), JSON
    ),
)
def test_garbage_never_raises_and_nothing_vanishes(
    resources: list[dict[str, Any]], patient: dict[str, Any]
) -> None:
    record = build_record([{**patient, "resourceType": "Patient", "id": "p1"}, *resources])
    refs = [
        *(f.ref for f in record.observations),
        *(f.ref for f in record.conditions),
        *(f.ref for f in record.procedures),
        *(f.ref for f in record.reports),
        *(f.ref for f in record.medications),
    ]
    accounted = set(refs) | {ref for ref, _ in record.skipped}
    for resource in resources:
        if resource["resourceType"] in ("Medication", "Encounter"):
            continue
        rid = resource.get("id")
        ref = f"{resource['resourceType']}/{rid if isinstance(rid, str) and rid else '(no id)'}"
        # Every resource of a type we read is a fact or listed as skipped with a reason.
        assert ref in accounted
    assert all(reason for _, reason in record.skipped)
