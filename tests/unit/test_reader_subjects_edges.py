"""Whose data, at every edge: each reason a resource is not this Patient's (word for word,
as the record lists it), the servers a Bundle's own fullUrls name, and long references."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.subjects import SubjectMatcher, patient_full_urls

BASE = "https://ehr.example.org/fhir"


def own(matcher: SubjectMatcher, subject: Any, field: str = "subject") -> str | None:
    return matcher.why_not_own({"resourceType": "Observation", field: subject})


@pytest.mark.parametrize(
    ("subject", "reason"),
    [
        (
            {"identifier": {"value": "1"}},
            "subject is an identifier only, not a reference to this Patient",
        ),
        (
            {"identifier": {"value": "1"}, "display": "J"},
            "subject is an identifier only, not a reference to this Patient",
        ),
        ({"display": "Jane"}, "subject is a display name only, not a reference to this Patient"),
        ({"display": ""}, "subject is a display name only, not a reference to this Patient"),
        ({}, "subject has no reference; cannot tell whose data it is"),
        ({"reference": ""}, "subject has no reference; cannot tell whose data it is"),
        ({"reference": "   "}, "subject has no reference; cannot tell whose data it is"),
        ({"reference": 7}, "subject has no reference; cannot tell whose data it is"),
        (
            {"reference": 7, "display": "x"},
            "subject is a display name only, not a reference to this Patient",
        ),
        ("Patient/p1", "subject has no reference; cannot tell whose data it is"),
        ({"reference": "Patient/p2"}, "belongs to Patient/p2, not Patient/p1"),
        ({"reference": "Patient/p10"}, "belongs to Patient/p10, not Patient/p1"),
        ({"reference": "Group/p1"}, "belongs to Group/p1, not Patient/p1"),
        ({"reference": "Patient/p2/_history/1"}, "belongs to Patient/p2, not Patient/p1"),
        (
            {"reference": "urn:uuid:p2"},
            "refers to urn:uuid:p2, which is not this Patient's Bundle entry",
        ),
        ({"reference": "#p1"}, "subject is a contained resource, not this Patient"),
        ({"reference": "p1"}, "subject reference p1 is not a FHIR reference"),
        (
            {"reference": "ftp://x/Patient/p1"},
            "subject reference ftp://x/Patient/p1 is not a FHIR reference",
        ),
        (
            {"reference": "http:/Patient/p1"},
            "subject reference http:/Patient/p1 is not a FHIR reference",
        ),
        ({"reference": "x/Patient/p1"}, "subject reference x/Patient/p1 is malformed"),
        ({"reference": "/Patient/p1"}, "subject reference /Patient/p1 is malformed"),
        (
            {"reference": "https://other.example/fhir/Patient/p1"},
            "refers to Patient/p1 on another FHIR server (https://other.example/fhir)",
        ),
    ],
)
def test_reasons_word_for_word(subject: Any, reason: str) -> None:
    assert own(SubjectMatcher("p1", fhir_base=BASE), subject) == reason


def test_no_subject_at_all_and_null_fields() -> None:
    matcher = SubjectMatcher("p1")
    why = "has no subject; cannot tell whose data it is"
    assert matcher.why_not_own({"resourceType": "Observation"}) == why
    assert own(matcher, None) == why
    assert own(matcher, None, "patient") == why


def test_subject_decides_before_patient() -> None:
    matcher = SubjectMatcher("p1")
    both = {"subject": {"reference": "Patient/p2"}, "patient": {"reference": "Patient/p1"}}
    assert matcher.why_not_own(both) == "belongs to Patient/p2, not Patient/p1"
    mine_first = {"subject": {"reference": "Patient/p1"}, "patient": {"reference": "Patient/p2"}}
    assert matcher.why_not_own(mine_first) is None
    # A null subject is absent: the patient field decides.
    assert matcher.why_not_own({"subject": None, "patient": {"reference": "Patient/p1"}}) is None
    assert own(matcher, {"reference": "Patient/p2"}, "patient") == (
        "belongs to Patient/p2, not Patient/p1"
    )


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/p1",
        " Patient/p1 ",
        "Patient/p1/",
        "Patient/p1/_history/3",
        "Patient/p1/_history",
        "urn:uuid:p1",
        " urn:uuid:p1",
        f"{BASE}/Patient/p1",
        f"{BASE}/Patient/p1/",
        f"{BASE}/Patient/p1/_history/2",
    ],
)
def test_references_to_this_patient(reference: str) -> None:
    assert own(SubjectMatcher("p1", fhir_base=BASE), {"reference": reference}) is None


@pytest.mark.parametrize("fhir_base", [f"{BASE}/", f" {BASE} ", f"{BASE}//"])
def test_the_server_base_is_read_without_spaces_or_trailing_slashes(fhir_base: str) -> None:
    matcher = SubjectMatcher("p1", fhir_base=fhir_base)
    assert own(matcher, {"reference": f"{BASE}/Patient/p1"}) is None
    assert own(matcher, {"reference": "https://other.example/fhir/Patient/p1"}) == (
        "refers to Patient/p1 on another FHIR server (https://other.example/fhir)"
    )


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_without_a_known_server_any_http_base_counts(scheme: str) -> None:
    matcher = SubjectMatcher("p1")
    assert own(matcher, {"reference": f"{scheme}://anywhere.example/Patient/p1"}) is None
    assert own(matcher, {"reference": f"{scheme}://anywhere.example/fhir/Patient/p1"}) is None
    assert own(matcher, {"reference": f"{scheme}://a.example/Patient/p2"}) == (
        "belongs to Patient/p2, not Patient/p1"
    )


def test_an_absolute_full_url_names_the_server() -> None:
    matcher = SubjectMatcher("p1", patient_urls=[f"{BASE}/Patient/p1"])
    assert own(matcher, {"reference": f"{BASE}/Patient/p1"}) is None
    assert own(matcher, {"reference": "https://b.example/Patient/p1"}) == (
        "refers to Patient/p1 on another FHIR server (https://b.example)"
    )


@pytest.mark.parametrize(
    "full_url",
    [f"{BASE}/Patient/p1/", f"{BASE}/Patient/p1/_history/4", f" {BASE}/Patient/p1 "],
)
def test_full_url_forms_that_name_the_server(full_url: str) -> None:
    matcher = SubjectMatcher("p1", patient_urls=[full_url])
    assert own(matcher, {"reference": f"{BASE}/Patient/p1"}) is None
    assert own(matcher, {"reference": "https://b.example/Patient/p1"}) is not None


def test_full_url_of_another_patient_or_a_urn_names_no_server() -> None:
    # Another Patient's fullUrl (or a urn) says nothing about this Patient's server.
    for urls in (["https://b.example/Patient/p2"], ["urn:uuid:abc"], [""], ["  "]):
        matcher = SubjectMatcher("p1", patient_urls=urls)
        assert own(matcher, {"reference": "https://c.example/Patient/p1"}) is None


def test_server_and_full_urls_both_count() -> None:
    matcher = SubjectMatcher(
        "p1", fhir_base="https://a.example/fhir", patient_urls=["https://b.example/Patient/p1"]
    )
    assert own(matcher, {"reference": "https://a.example/fhir/Patient/p1"}) is None
    assert own(matcher, {"reference": "https://b.example/Patient/p1"}) is None
    assert own(matcher, {"reference": "https://c.example/Patient/p1"}) == (
        "refers to Patient/p1 on another FHIR server (https://c.example)"
    )


def test_urn_full_urls_of_the_patient_entry_count() -> None:
    matcher = SubjectMatcher("p1", patient_urls=[" urn:uuid:abc ", "urn:oid:1.2.3"])
    assert own(matcher, {"reference": "urn:uuid:abc"}) is None
    assert own(matcher, {"reference": "urn:oid:1.2.3"}) is None
    assert own(matcher, {"reference": "urn:uuid:p1"}) is None  # the id convention stays
    assert own(matcher, {"reference": "urn:uuid:abcd"}) == (
        "refers to urn:uuid:abcd, which is not this Patient's Bundle entry"
    )
    # An http fullUrl is not a urn of the entry.
    http_only = SubjectMatcher("p1", patient_urls=[f"{BASE}/Patient/p1"])
    assert own(http_only, {"reference": f"urn:{BASE}/Patient/p1"}) is not None


def test_matcher_names_its_patient() -> None:
    matcher = SubjectMatcher("p1")
    assert matcher.patient_id == "p1"
    assert matcher.ref == "Patient/p1"


@pytest.mark.parametrize(
    ("length", "shown"),
    [(80, None), (81, 77)],
)
def test_long_references_are_cut_to_eighty_characters(length: int, shown: int | None) -> None:
    reference = "urn:uuid:" + "x" * (length - len("urn:uuid:"))
    assert len(reference) == length
    why = own(SubjectMatcher("p1"), {"reference": reference})
    text = reference if shown is None else reference[:shown] + "..."
    assert why == f"refers to {text}, which is not this Patient's Bundle entry"


def test_patient_full_urls_of_a_bundle() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient", "id": "a"}},
            {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Observation"}},
            {"fullUrl": "", "resource": {"resourceType": "Patient"}},
            {"fullUrl": 5, "resource": {"resourceType": "Patient"}},
            {"resource": {"resourceType": "Patient"}},
            {"fullUrl": "urn:uuid:x"},
            "not an entry",
            {"fullUrl": f"{BASE}/Patient/b", "resource": {"resourceType": "Patient"}},
        ],
    }
    assert patient_full_urls(bundle) == ["urn:uuid:a", f"{BASE}/Patient/b"]
    assert patient_full_urls({"resourceType": "Bundle"}) == []
    assert patient_full_urls({"entry": None}) == []
    assert patient_full_urls(None) == []
    assert patient_full_urls("not a bundle") == []


def test_a_server_base_ending_in_x_keeps_its_last_letter() -> None:
    matcher = SubjectMatcher("p1", fhir_base="https://ehr.example.org/BOX/")
    assert own(matcher, {"reference": "https://ehr.example.org/BOX/Patient/p1"}) is None
    assert own(matcher, {"reference": "https://ehr.example.org/BO/Patient/p1"}) == (
        "refers to Patient/p1 on another FHIR server (https://ehr.example.org/BO)"
    )


def test_ids_ending_in_x_are_read_whole() -> None:
    # Patient ids are [A-Za-z0-9-.]{1,64}: one ending in X (or a slash) is still that id.
    matcher = SubjectMatcher("PX", patient_urls=["https://b.example/Patient/PX"])
    assert own(matcher, {"reference": "https://b.example/Patient/PX"}) is None
    assert own(matcher, {"reference": "https://b.example/Patient/PX/"}) is None
    assert own(matcher, {"reference": "https://c.example/Patient/PX"}) == (
        "refers to Patient/PX on another FHIR server (https://c.example)"
    )
    assert own(SubjectMatcher("PX"), {"reference": "https://c.example/Patient/PX"}) is None


def test_a_urn_full_url_names_no_server_whatever_it_ends_with() -> None:
    matcher = SubjectMatcher("p1", patient_urls=["urn:x-local:ehr/Patient/p1"])
    assert own(matcher, {"reference": "https://c.example/Patient/p1"}) is None
    assert own(matcher, {"reference": "urn:x-local:ehr/Patient/p1"}) is None
