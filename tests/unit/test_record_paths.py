"""build_record paths the other record tests leave open: where a resource without an id or
of a type eligibility does not read may stand, the exact refusals, allergies, the FHIR
server a record came from, and resource types that are not text."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.facts import RXNORM
from fhir_mappings.record import RecordError, build_record
from tests.unit.test_record import PATIENT, obs


def test_a_resource_without_id_before_the_patient_loses_nothing() -> None:
    record = build_record([obs("x", "2026-02-01", id=None), PATIENT, obs("a", "2026-02-02")])
    assert [o.ref for o in record.observations] == ["Observation/a"]
    assert record.skipped == (("Observation/(no id)", "the resource has no id"),)


def test_repeated_resources_of_types_not_read_are_not_conflicts() -> None:
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished"}
    record = build_record(
        [PATIENT, encounter, {**encounter, "status": "in-progress"}, obs("a", "2026-02-01")]
    )
    assert record.skipped == ()
    assert [o.ref for o in record.observations] == ["Observation/a"]


@pytest.mark.parametrize("kind", [["Observation"], {"type": "Observation"}, 7, None])
def test_a_resource_type_that_is_not_text_is_ignored(kind: Any) -> None:
    odd = {**obs("odd", "2026-02-01"), "resourceType": kind}
    record = build_record([PATIENT, odd, obs("a", "2026-02-02")])
    assert [o.ref for o in record.observations] == ["Observation/a"]
    assert record.skipped == ()


def test_the_exact_refusals() -> None:
    with pytest.raises(RecordError) as no_id:
        build_record([{**PATIENT, "id": ""}])
    assert str(no_id.value) == "the Patient resource has no id"
    with pytest.raises(RecordError) as twice:
        build_record([PATIENT, {**PATIENT, "gender": "male"}])
    assert str(twice.value) == (
        "the Patient resource appears twice with different content "
        "and no way to tell which is current"
    )


def test_allergies_are_read_into_the_record() -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "al",
        "patient": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": RXNORM, "code": "32592"}]},
        "recordedDate": "2025-05-01",
    }
    other = {**allergy, "id": "theirs", "patient": {"reference": "Patient/p2"}}
    record = build_record([PATIENT, allergy, other])
    assert [a.ref for a in record.allergies] == ["AllergyIntolerance/al"]
    assert record.skipped == (
        ("AllergyIntolerance/theirs", "belongs to Patient/p2, not Patient/p1"),
    )


def test_absolute_references_must_name_the_server_the_data_came_from() -> None:
    base = "https://ehr.example.org/fhir"
    here = obs("here", "2026-02-01", subject={"reference": f"{base}/Patient/p1"})
    there = obs(
        "there", "2026-02-02", subject={"reference": "https://other.example.org/fhir/Patient/p1"}
    )
    record = build_record([PATIENT, here, there], fhir_base=base)
    assert [o.ref for o in record.observations] == ["Observation/here"]
    assert record.skipped == (
        (
            "Observation/there",
            "refers to Patient/p1 on another FHIR server (https://other.example.org/fhir)",
        ),
    )
    # Without the server known (a Bundle handed over as a file), any http(s) base is accepted.
    unknown = build_record([PATIENT, here, there])
    assert [o.ref for o in unknown.observations] == ["Observation/there", "Observation/here"]


def test_the_patients_own_full_url_names_the_server() -> None:
    base = "https://ehr.example.org/fhir"
    there = obs(
        "there", "2026-02-02", subject={"reference": "https://other.example.org/fhir/Patient/p1"}
    )
    record = build_record([PATIENT, there], patient_urls=[f"{base}/Patient/p1"])
    assert record.observations == ()
    assert record.skipped[0][0] == "Observation/there"


def test_a_parser_failure_is_listed_with_its_type() -> None:
    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            if key == "status":
                raise RuntimeError("boom")
            return super().get(key, default)

    bad = Exploding(obs("bad", "2026-02-01"))
    record = build_record([PATIENT, bad, obs("good", "2026-02-02")])
    assert [o.ref for o in record.observations] == ["Observation/good"]
    assert record.skipped == (("Observation/bad", "unreadable (RuntimeError)"),)


def test_procedures_are_read_into_the_record_newest_first() -> None:
    def procedure(pid: str, performed: str) -> dict[str, Any]:
        return {
            "resourceType": "Procedure",
            "id": pid,
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "33195004"}]},
            "performedDateTime": performed,
        }

    record = build_record([PATIENT, procedure("old", "2024-01-01"), procedure("new", "2025-06-01")])
    assert [p.ref for p in record.procedures] == ["Procedure/new", "Procedure/old"]
