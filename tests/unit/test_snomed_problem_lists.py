"""Problem lists coded in SNOMED CT only (as US Core allows, and Synthea writes): the code
sets have no SNOMED hierarchy, so each criterion's descendants are listed, and a problem
list entry of a common disorder must decide like its ICD-10 code does."""

from __future__ import annotations

import pytest

from tests.unit.screen_edits import SNOMED, screen_with


@pytest.mark.parametrize(
    ("fixture", "trial", "criterion", "code", "status"),
    [
        # Another malignancy (TORCH-E2: within 5 years; RAPIDO: concomitant).
        ("torch_e2_candidate", "torch-e2", "other_malignancy", "254837009", "met"),  # breast
        ("torch_e2_candidate", "torch-e2", "other_malignancy", "254637007", "met"),  # NSCLC
        ("torch_e2_candidate", "torch-e2", "other_malignancy", "93761005", "met"),  # colon
        ("torch_e2_candidate", "torch-e2", "other_malignancy", "118601006", "met"),  # NHL
        ("torch_e2_candidate", "torch-e2", "other_malignancy", "91861009", "met"),  # AML
        ("rapido_candidate", "rapido", "concomitant_malignancy", "399068003", "met"),  # prostate
        ("rapido_candidate", "rapido", "concomitant_malignancy", "93655004", "met"),  # melanoma
        # Basal cell carcinoma: RAPIDO's stated exception.
        ("rapido_candidate", "rapido", "concomitant_malignancy", "254701007", "not_met"),
        # Cardiac, bowel and nerve disease.
        ("rapido_candidate", "rapido", "cardiac_disease", "401303003", "met"),  # STEMI
        ("rapido_candidate", "rapido", "cardiac_disease", "401314000", "met"),  # NSTEMI
        ("rapido_candidate", "rapido", "ibd", "56689002", "met"),  # Crohn's, small intestine
        ("rapido_candidate", "rapido", "ibd", "444548001", "met"),  # ulcerative pancolitis
        ("rapido_candidate", "rapido", "peripheral_neuropathy", "424736006", "met"),
        # Immune disease.
        ("torch_e2_candidate", "torch-e2", "immunodeficiency_immunosuppression", "86406008", "met"),
        ("torch_e2_candidate", "torch-e2", "immunodeficiency_immunosuppression", "62479008", "met"),
        ("neo_field_candidate", "neo-field-i", "autoimmune_disease", "239791005", "met"),  # RA
        ("neo_field_candidate", "neo-field-i", "active_infection", "86406008", "met"),  # HIV
    ],
)
def test_a_snomed_only_problem_list_entry_decides(
    fixture: str, trial: str, criterion: str, code: str, status: str
) -> None:
    before = screen_with(fixture, trial, criterion)
    after = screen_with(fixture, trial, criterion, code, SNOMED)
    assert after.status == status
    if status != before.status:
        assert after.evidence[0].reference == "Condition/added-condition"


@pytest.mark.parametrize(
    ("fixture", "trial", "criterion", "code"),
    [
        # "Colon and/or rectum", rectosigmoid junction: beside a rectal cancer, perhaps the
        # same tumour.
        ("torch_e2_candidate", "torch-e2", "other_malignancy", "781382000"),
        ("torch_e2_candidate", "torch-e2", "other_malignancy", "363414004"),
        # "Malignant neoplasm of skin": basal cell (excepted) or melanoma (not)?
        ("rapido_candidate", "rapido", "concomitant_malignancy", "372130007"),
        ("neo_field_candidate", "neo-field-i", "other_malignancy", "372130007"),
        # Intrapelvic nodes: regional or distant.
        ("torch_e2_candidate", "torch-e2", "no_distant_metastasis", "94350006"),
    ],
)
def test_a_snomed_code_too_broad_to_decide_is_unknown(
    fixture: str, trial: str, criterion: str, code: str
) -> None:
    result = screen_with(fixture, trial, criterion, code, SNOMED)
    assert result.status == "unknown"
    assert "coded too broadly to tell" in result.reason


def test_distant_nodes_in_snomed_count_as_metastasis() -> None:
    axillary = screen_with(
        "torch_e2_candidate", "torch-e2", "no_distant_metastasis", "94181007", SNOMED
    )
    assert axillary.status == "not_met"
    # Pararectal nodes are regional (N+): not a distant metastasis at all.
    pararectal = screen_with(
        "torch_e2_candidate", "torch-e2", "no_distant_metastasis", "94466007", SNOMED
    )
    assert pararectal.status == "met"
