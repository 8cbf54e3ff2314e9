"""The AllergyIntolerance reader at every edge: every clinical and verification status,
the HL7 coding against local ones, substances from reactions, onset alternatives and their
reasons, no id, text-only records."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from fhir_mappings.allergies import (
    CLINICAL_STATUS_SYSTEM,
    VERIFICATION_STATUS_SYSTEM,
    parse_allergy,
)
from fhir_mappings.facts import AllergyFact

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PENICILLIN = (SNOMED, "764146007")
AMOXICILLIN = (RXNORM, "723")
LOCAL = "http://hospital.example/allergy-status"


def allergy(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "patient": {"reference": "Patient/p1"},
        "code": {
            "coding": [{"system": PENICILLIN[0], "code": PENICILLIN[1], "display": "Penicillin"}]
        },
        **fields,
    }


def status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def test_a_complete_allergy() -> None:
    fact = parse_allergy(
        allergy(
            clinicalStatus=status(CLINICAL_STATUS_SYSTEM, "active"),
            verificationStatus=status(VERIFICATION_STATUS_SYSTEM, "confirmed"),
            onsetDateTime="2019-04-01T10:00:00Z",
        )
    )
    assert fact == AllergyFact(
        ref="AllergyIntolerance/a1",
        codes=frozenset({PENICILLIN}),
        clinical_status="active",
        verification_status="confirmed",
        date=date(2019, 4, 1),
        display="Penicillin",
        problem=None,
    )


@pytest.mark.parametrize("code", ["active", "inactive", "resolved"])
def test_every_clinical_status(code: str) -> None:
    fact = parse_allergy(allergy(clinicalStatus=status(CLINICAL_STATUS_SYSTEM, code)))
    assert fact.clinical_status == code


@pytest.mark.parametrize("code", ["unconfirmed", "confirmed", "refuted", "entered-in-error"])
def test_every_verification_status(code: str) -> None:
    fact = parse_allergy(allergy(verificationStatus=status(VERIFICATION_STATUS_SYSTEM, code)))
    assert fact.verification_status == code


def test_the_hl7_coding_wins_over_a_local_one_listed_first() -> None:
    clinical = {
        "coding": [
            {"system": LOCAL, "code": "A"},
            {"system": CLINICAL_STATUS_SYSTEM, "code": ""},
            {"system": CLINICAL_STATUS_SYSTEM, "code": 3},
            {"system": CLINICAL_STATUS_SYSTEM, "code": "inactive"},
        ]
    }
    verification = {
        "coding": [
            {"system": LOCAL, "code": "C"},
            {"system": VERIFICATION_STATUS_SYSTEM, "code": "refuted"},
        ]
    }
    fact = parse_allergy(allergy(clinicalStatus=clinical, verificationStatus=verification))
    assert (fact.clinical_status, fact.verification_status) == ("inactive", "refuted")


def test_each_status_is_read_in_its_own_system() -> None:
    # A clinical code in the verification system is not a clinical status.
    fact = parse_allergy(
        allergy(
            clinicalStatus={
                "coding": [
                    {"system": VERIFICATION_STATUS_SYSTEM, "code": "confirmed"},
                    {"system": CLINICAL_STATUS_SYSTEM, "code": "active"},
                ]
            },
            verificationStatus={
                "coding": [
                    {"system": CLINICAL_STATUS_SYSTEM, "code": "active"},
                    {"system": VERIFICATION_STATUS_SYSTEM, "code": "unconfirmed"},
                ]
            },
        )
    )
    assert (fact.clinical_status, fact.verification_status) == ("active", "unconfirmed")


UNREAD = ", not a FHIR verification status"


@pytest.mark.parametrize(
    ("concept", "clinical", "verification"),
    [
        # Only a local code that is no FHIR status: no clinical status, and a verification
        # status that is kept as sent and marked unread (it may say "refuted").
        ({"coding": [{"system": LOCAL, "code": "A"}]}, None, "'A'" + UNREAD),
        ({"coding": [{"code": "active"}]}, "active", "'active'" + UNREAD),
        ({"coding": [{"system": LOCAL, "code": 1}, {"code": "B"}]}, None, "'B'" + UNREAD),
        ({"coding": [{"system": LOCAL, "code": "C", "display": "Confirmed"}]}, None, "confirmed"),
        ({"text": "Active"}, "active", "'Active'" + UNREAD),
        ({"text": "Entered in error"}, None, "entered-in-error"),
        ({"coding": []}, None, None),
        (None, None, None),
        ("active", None, None),
    ],
)
def test_a_status_without_the_hl7_coding(
    concept: Any, clinical: str | None, verification: str | None
) -> None:
    fact = parse_allergy(allergy(clinicalStatus=concept, verificationStatus=concept))
    assert (fact.clinical_status, fact.verification_status) == (clinical, verification)


def test_reaction_substances_are_what_the_patient_reacts_to() -> None:
    fact = parse_allergy(
        allergy(
            reaction=[
                {"substance": {"coding": [{"system": AMOXICILLIN[0], "code": AMOXICILLIN[1]}]}},
                {"manifestation": [{"text": "rash"}]},
                "not a reaction",
                {
                    "substance": {
                        "coding": [{"system": "urn:oid:2.16.840.1.113883.6.88", "code": "1"}]
                    }
                },
            ]
        )
    )
    assert fact.codes == {PENICILLIN, AMOXICILLIN, (RXNORM, "1")}
    assert fact.display == "Penicillin"  # the display is the record's own code


def test_reaction_substance_alone_and_odd_reactions() -> None:
    fact = parse_allergy(
        allergy(
            code={"text": "Antibiotics"},
            reaction=[{"substance": {"coding": [{"system": AMOXICILLIN[0], "code": "723"}]}}],
        )
    )
    assert fact.codes == {AMOXICILLIN}
    assert fact.display == "Antibiotics"
    assert parse_allergy(allergy(reaction={"substance": {}})).codes == {PENICILLIN}


def test_text_only_and_uncoded_allergies() -> None:
    fact = parse_allergy(allergy(code={"text": "Penicillin"}))
    assert (fact.codes, fact.display, fact.problem) == (frozenset(), "Penicillin", None)
    bare = parse_allergy({"resourceType": "AllergyIntolerance", "id": "a2"})
    assert bare == AllergyFact(
        ref="AllergyIntolerance/a2",
        codes=frozenset(),
        clinical_status=None,
        verification_status=None,
        date=None,
    )


@pytest.mark.parametrize(
    ("fields", "when"),
    [
        ({"onsetDateTime": "2019-04-01"}, date(2019, 4, 1)),
        ({"onsetPeriod": {"start": "2019-05-01"}}, date(2019, 5, 1)),
        ({"recordedDate": "2019-06-01T08:00:00+02:00"}, date(2019, 6, 1)),
        (
            {
                "onsetDateTime": "2019-04-01",
                "onsetPeriod": {"start": "2019-05-01"},
                "recordedDate": "2019-06-01",
            },
            date(2019, 4, 1),
        ),
        ({"onsetPeriod": {"start": "2019-05-01"}, "recordedDate": "2019-06-01"}, date(2019, 5, 1)),
        ({"onsetPeriod": {"end": "2019-05-01"}, "recordedDate": "2019-06-01"}, date(2019, 6, 1)),
        ({"onsetPeriod": "2019-05-01", "recordedDate": "2019-06-01"}, date(2019, 6, 1)),
        ({"onsetString": "childhood", "recordedDate": "2019-06-01"}, date(2019, 6, 1)),
    ],
)
def test_onset_then_recorded_date(fields: dict[str, Any], when: date) -> None:
    fact = parse_allergy(allergy(**fields))
    assert (fact.date, fact.problem) == (when, None)


def test_a_partial_onset_falls_through_to_the_recorded_date_silently() -> None:
    fact = parse_allergy(allergy(onsetDateTime="2019", recordedDate="2019-06-01"))
    assert (fact.date, fact.problem) == (date(2019, 6, 1), None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"onsetDateTime": "2019"},
            "onset date is not a full date ('2019', precision year)",
        ),
        (
            {"onsetPeriod": {"start": "2019-13-01"}, "recordedDate": "2019-06"},
            "onset date is unreadable (date '2019-13-01' is not a calendar date)",
        ),
        ({"recordedDate": 2019}, "onset date is unreadable (date 2019 is not a string)"),
    ],
)
def test_no_full_date_names_the_first_bad_one(fields: dict[str, Any], problem: str) -> None:
    fact = parse_allergy(allergy(**fields))
    assert (fact.date, fact.problem) == (None, problem)


@pytest.mark.parametrize("rid", [None, "", 7])
def test_an_allergy_without_an_id(rid: object) -> None:
    resource = allergy(onsetDateTime="2019")
    if rid is None:
        del resource["id"]
    else:
        resource["id"] = rid
    fact = parse_allergy(resource)
    assert fact.ref == "AllergyIntolerance/(no id)"
    assert fact.problem == (
        "the resource has no id; onset date is not a full date ('2019', precision year)"
    )
    assert fact.codes == {PENICILLIN}


def test_not_a_resource_at_all() -> None:
    fact = parse_allergy(["AllergyIntolerance"])  # type: ignore[arg-type]
    assert fact.ref == "AllergyIntolerance/(no id)"
    assert fact.problem == "the resource has no id"
