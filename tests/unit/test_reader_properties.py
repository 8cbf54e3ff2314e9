"""Property tests (Hypothesis) on reading real-shaped EHR data safely.

- Adding any resource that is not attached to the patient never changes a result.
- An implausible value never yields `met`.
- Removing a resource never turns `unknown` into `met`, unless the removed resource is the
  one the unknown named (a blocking order, a conflicting or impossible result).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from fhir_mappings.subjects import patient_full_urls
from fhir_mappings.terminology import load_terminology
from fhir_mappings.units import convert

ENGINE = Engine.default()
TERMS = load_terminology()
AS_OF = date(2026, 3, 2)
TRIAL = "scrt-capeox-serplulimab-rectal"
ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "realistic"
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PERSONAS = [
    "us_core_epic_eligible",
    "mii_german_profiles",
    "subject_missing_newer_normal",
    "differential_metastasis",
    "local_code_eliquis_text",
    "range_unreadable",
]
BUNDLES = {p: json.loads((ROOT / p / "bundle.json").read_text()) for p in PERSONAS}


def screen(bundle: dict[str, Any]) -> dict[str, Any]:
    record = build_record(resources_from_bundle(bundle), patient_urls=patient_full_urls(bundle))
    return {c.id: c for c in ENGINE.screen(record, AS_OF, [TRIAL]).trials[0].criteria}


def with_resource(bundle: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(bundle)
    changed["entry"].append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    return changed


LOINCS = [
    "2160-0",
    "751-8",
    "777-3",
    "718-7",
    "1975-2",
    "1742-6",
    "1920-8",
    "1751-7",
    "6301-6",
    "14979-9",
    "89247-1",
    "81695-9",
    "81691-8",
    "21889-1",
    "29463-7",
    "2106-3",
]
# Subjects that name nobody in particular: such a resource may be this patient's.
UNATTRIBUTED_SUBJECTS = [
    None,
    {"identifier": {"system": "urn:mrn", "value": "42"}},
    {"display": "Someone Else"},
]
# Subjects that name someone or something else.
DETACHED_SUBJECTS = [
    {"reference": "Patient/someone-else"},
    {"reference": "urn:uuid:7d3f1a2b-0000-4000-8000-000000000001"},
    {"reference": "https://other.example.net/fhir/Patient/uscore-epic"},
    {"reference": "Group/ward-3"},
]


@st.composite
def detached_resource(
    draw: st.DrawFn, subjects: Sequence[dict[str, Any] | None] = DETACHED_SUBJECTS
) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(["Observation", "Condition", "MedicationRequest", "DiagnosticReport"])
    )
    day = f"2026-0{draw(st.integers(1, 3))}-0{draw(st.integers(1, 2))}"
    resource: dict[str, Any] = {"resourceType": kind, "id": f"stray-{draw(st.integers(0, 10**6))}"}
    if kind == "Observation":
        resource.update(
            status=draw(st.sampled_from(["final", "amended", "preliminary"])),
            code={
                "coding": [{"system": "http://loinc.org", "code": draw(st.sampled_from(LOINCS))}]
            },
            effectiveDateTime=day,
        )
        if draw(st.booleans()):
            resource["valueQuantity"] = {
                "value": draw(st.floats(min_value=-10, max_value=1e4, allow_nan=False)),
                "unit": draw(st.sampled_from(["mg/dL", "10*9/L", "g/dL", "U/L", "{INR}", "s"])),
            }
        else:
            resource["valueString"] = draw(
                st.sampled_from(["Negative", "Loss of expression", "MSI-H", "0.1", ">1000"])
            )
    elif kind == "Condition":
        resource.update(
            code={
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/sid/icd-10-cm",
                        "code": draw(st.sampled_from(["C20", "C78.7", "C79.51", "C71.9"])),
                    }
                ]
            },
            onsetDateTime=day,
            verificationStatus={
                "coding": [{"code": draw(st.sampled_from(["confirmed", "provisional"]))}]
            },
        )
    elif kind == "MedicationRequest":
        resource.update(
            status="active",
            intent="order",
            medicationCodeableConcept={
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1364445"}
                ],
                "text": "Eliquis",
            },
        )
    else:
        resource.update(
            status="final",
            code={"coding": [{"system": "http://loinc.org", "code": "24867-4"}]},
            effectiveDateTime=day,
            conclusion=f"Tumour {draw(st.integers(1, 20))} cm from the anal verge.",
        )
    subject = draw(st.sampled_from(subjects))
    if subject is not None:
        resource["subject"] = subject
    return resource


def screened_with(
    persona: str, extra: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The persona's results before and after `extra` resources are added to its bundle."""
    changed = BUNDLES[persona]
    for resource in extra:
        changed = with_resource(changed, resource)
    return screen(BUNDLES[persona]), screen(changed)


@given(
    persona=st.sampled_from(PERSONAS), extra=st.lists(detached_resource(), min_size=1, max_size=3)
)
@SETTINGS
def test_resources_not_attached_to_the_patient_never_change_a_result(
    persona: str, extra: list[dict[str, Any]]
) -> None:
    before, after = screened_with(persona, extra)
    assert {k: (v.status, v.reason) for k, v in after.items()} == {
        k: (v.status, v.reason) for k, v in before.items()
    }


@given(
    persona=st.sampled_from(PERSONAS),
    extra=st.lists(detached_resource(UNATTRIBUTED_SUBJECTS), min_size=1, max_size=3),
)
@SETTINGS
def test_resources_whose_subject_names_nobody_only_ever_reopen_a_result(
    persona: str, extra: list[dict[str, Any]]
) -> None:
    # Never counted as this patient's evidence, but it may be this patient's: it can turn
    # a decided criterion into unknown, never decide one or reverse it.
    before, after = screened_with(persona, extra)
    assert after.keys() == before.keys()
    for key, result in after.items():
        if result.status != before[key].status:
            assert result.status == "unknown", key
            assert "could not be used" in result.reason, key


# (criterion, LOINC, code set) for numeric criteria with physiological limits.
NUMERIC = [
    ("renal_function", "2160-0", "creatinine"),
    ("anc", "751-8", "anc"),
    ("platelets", "777-3", "platelets"),
    ("hemoglobin", "718-7", "hemoglobin"),
    ("total_bilirubin", "1975-2", "total_bilirubin"),
    ("alt_ast", "1742-6", "alt"),
    ("albumin", "1751-7", "albumin"),
    ("inr", "6301-6", "inr"),
    ("aptt", "14979-9", "aptt"),
    ("ecog", "89247-1", "ecog"),
    ("measurable_lesion", "21889-1", "tumor_size"),
]
# Decided by the largest lesion in the window, not by the latest result: an impossible
# size must not count, but a real older lesion still may.
LARGEST_IN_WINDOW = {"measurable_lesion"}


@st.composite
def implausible_value(draw: st.DrawFn) -> tuple[str, str, float, str]:
    criterion, loinc, name = draw(st.sampled_from(NUMERIC))
    limits = TERMS.code_set(name).plausible
    assert limits is not None
    if draw(st.booleans()):  # below the lower limit
        value = limits.low - draw(
            st.floats(min_value=0 if limits.low_exclusive else 1e-6, max_value=1e6, allow_nan=False)
        )
        if limits.low == 0 and not limits.low_exclusive and value == 0:
            value = -1.0
    else:
        value = limits.high * (1 + draw(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)))
    return criterion, loinc, value, limits.unit


@given(case=implausible_value(), only=st.booleans())
@SETTINGS
def test_an_implausible_value_never_yields_met(
    case: tuple[str, str, float, str], only: bool
) -> None:
    criterion, loinc, value, unit = case
    only = only or criterion in LARGEST_IN_WINDOW
    bundle = copy.deepcopy(BUNDLES["us_core_epic_eligible"])
    if only:  # the implausible result is the only one of its kind
        bundle["entry"] = [
            e
            for e in bundle["entry"]
            if not any(
                c.get("code") == loinc for c in e["resource"].get("code", {}).get("coding", [])
            )
        ]
    quantity: dict[str, Any] = {
        "value": value,
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": unit,
    }
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "impossible",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/uscore-epic"},
        "effectiveDateTime": "2026-03-01T10:00:00Z",
    }
    if loinc == "89247-1" and float(value).is_integer() and abs(value) < 1e9:
        resource["valueInteger"] = int(value)
    else:
        resource["valueQuantity"] = quantity
    assert convert(1, unit, unit) == 1  # the limit's unit is a real UCUM unit
    result = screen(with_resource(bundle, resource))[criterion]
    assert result.status != "met", (criterion, value, result.reason)


@given(
    persona=st.sampled_from(PERSONAS),
    picks=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=4),
)
@SETTINGS
def test_removing_a_resource_never_turns_unknown_into_met(persona: str, picks: list[int]) -> None:
    bundle = BUNDLES[persona]
    before = screen(bundle)
    entries = bundle["entry"]
    removed = {
        (
            entries[i % len(entries)]["resource"]["resourceType"],
            entries[i % len(entries)]["resource"]["id"],
        )
        for i in picks
    }
    removed.discard(("Patient", entries[0]["resource"]["id"]))
    smaller = copy.deepcopy(bundle)
    smaller["entry"] = [
        e for e in entries if (e["resource"]["resourceType"], e["resource"]["id"]) not in removed
    ]
    after = screen(smaller)
    refs = {f"{t}/{i}" for t, i in removed}
    for criterion, result in before.items():
        if result.status != "unknown" or after[criterion].status != "met":
            continue
        named = {e.reference for e in result.evidence}
        # Only removing what made it unknown (an active order, an impossible or a
        # conflicting result, a suspected finding) may let it be met.
        assert refs & named or any(r in result.reason for r in refs), (
            criterion,
            sorted(refs),
            result.reason,
        )
