"""Codes too broad to decide a criterion, screened against the packaged definitions.

A lymph-node secondary coded only by region (ICD-10 C77.2 / C77.5 / C77.8 / C77.9) cannot
tell regional nodes (N+, which every one of these trials admits) from distant ones (M1): it
leaves "no distant metastasis" to the staging instead of excluding or clearing the patient.
A skin cancer coded in WHO ICD-10 / ICD-10-GM C44 names no histology: RAPIDO's exception
for basal cell carcinoma can neither apply nor be refused."""

from __future__ import annotations

import pytest

from tests.unit.screen_edits import CONDITION_ID, screen_with


def _status(
    fixture: str,
    trial: str,
    criterion: str,
    extra: str | None,
    system: str = "http://hl7.org/fhir/sid/icd-10-cm",
) -> str:
    return screen_with(fixture, trial, criterion, extra, system).status


@pytest.mark.parametrize(
    ("fixture", "trial", "criterion", "without"),
    [
        ("torch_e2_candidate", "torch-e2", "no_distant_metastasis", "met"),
        ("neo_field_candidate", "neo-field-i", "clinical_stage", "met"),
        ("rapido_candidate", "rapido", "distant_metastasis", "not_met"),
    ],
)
@pytest.mark.parametrize("code", ["C77.5", "C772", "C77.8", "C77.9"])
def test_regional_or_distant_nodes_leave_the_m_category_unknown(
    fixture: str, trial: str, criterion: str, without: str, code: str
) -> None:
    assert _status(fixture, trial, criterion, None) == without
    assert _status(fixture, trial, criterion, code) == "unknown"


@pytest.mark.parametrize(
    ("fixture", "trial", "criterion", "decided"),
    [
        ("torch_e2_candidate", "torch-e2", "no_distant_metastasis", "not_met"),
        ("rapido_candidate", "rapido", "distant_metastasis", "met"),
    ],
)
def test_distant_nodes_still_count_as_metastasis(
    fixture: str, trial: str, criterion: str, decided: str
) -> None:
    # Axillary nodes are never regional for a rectal primary.
    assert _status(fixture, trial, criterion, "C77.3") == decided


WHO = "http://hl7.org/fhir/sid/icd-10"
GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
CM = "http://hl7.org/fhir/sid/icd-10-cm"


@pytest.mark.parametrize(
    ("system", "code", "status"),
    [
        (WHO, "C44.3", "unknown"),  # skin of the face: basal cell or squamous cell?
        (GM, "C44.3", "unknown"),
        (CM, "C44.300", "unknown"),  # ICD-10-CM's own "unspecified malignant neoplasm"
        (CM, "C44.310", "not_met"),  # basal cell carcinoma: the stated exception
        (CM, "C44.320", "met"),  # squamous cell carcinoma: not excepted
        (WHO, "C61", "met"),  # prostate
    ],
)
def test_rapido_skin_cancer_without_histology_is_unknown(
    system: str, code: str, status: str
) -> None:
    assert _status("rapido_candidate", "rapido", "concomitant_malignancy", None) == "not_met"
    assert _status("rapido_candidate", "rapido", "concomitant_malignancy", code, system) == status


@pytest.mark.parametrize(
    ("system", "code", "status"),
    [
        (CM, "B18.1", "unknown"),  # chronic hepatitis B: the viral load decides
        (WHO, "B18.2", "unknown"),  # chronic hepatitis C
        (CM, "B20", "met"),  # HIV disease
    ],
)
def test_neo_field_chronic_hepatitis_is_left_to_the_viral_load(
    system: str, code: str, status: str
) -> None:
    result = screen_with("neo_field_candidate", "neo-field-i", "active_infection", code, system)
    assert result.status == status
    # The diagnosis is named as the evidence it is, whatever the status.
    assert [e.reference for e in result.evidence][:1] == [f"Condition/{CONDITION_ID}"]
    if status == "unknown":
        assert "coded too broadly to tell" in result.reason
        assert "says nothing of the current viral load" in result.reason


@pytest.mark.parametrize(
    ("fixture", "trial", "criterion"),
    [
        ("torch_e2_candidate", "torch-e2", "no_distant_metastasis"),
        ("neo_field_candidate", "neo-field-i", "clinical_stage"),
        ("rapido_candidate", "rapido", "distant_metastasis"),
    ],
)
def test_an_active_metastasis_diagnosed_before_the_staging_window_is_not_cleared(
    fixture: str, trial: str, criterion: str
) -> None:
    # An active liver metastasis from 2024 beside an M0 staging of 2026: the data disagree.
    result = screen_with(fixture, trial, criterion, "C78.7", onset="2024-06-01")
    assert result.status == "unknown"
    assert "still recorded as active" in result.reason


@pytest.mark.parametrize(
    "system", ["http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10"]
)
@pytest.mark.parametrize(
    ("trial", "criterion"), [("torch-e2", "other_malignancy"), ("neo-field-i", "other_malignancy")]
)
def test_a_personal_history_of_cancer_keeps_a_history_of_malignancy_open(
    system: str, trial: str, criterion: str
) -> None:
    """Z85 says a cancer was had, not when: "history of other malignancies (within 5 years)"
    can be neither met nor cleared by it."""
    result = screen_with("likely_eligible", trial, criterion, "Z85.46", system)
    assert result.status == "unknown"
    assert f"{CONDITION_ID} on 2026-02-10 is coded too broadly to tell (Personal history" in (
        result.reason
    )


@pytest.mark.parametrize(
    ("trial", "criterion", "code", "onset", "expected"),
    [
        # Recorded more than five years ago: the cancer was before that, outside the window.
        ("torch-e2", "other_malignancy", "Z85.46", "2019-01-10", "not_met"),
        # A concomitant (current) malignancy is not a past one.
        ("rapido", "concomitant_malignancy", "Z85.46", "2026-02-10", "not_met"),
        # A relative's cancer is not the patient's.
        ("torch-e2", "other_malignancy", "Z80.0", "2026-02-10", "not_met"),
    ],
)
def test_a_personal_history_decides_where_it_can(
    trial: str, criterion: str, code: str, onset: str, expected: str
) -> None:
    result = screen_with(
        "likely_eligible", trial, criterion, code, "http://hl7.org/fhir/sid/icd-10-cm", onset=onset
    )
    assert result.status == expected, result.reason
