"""Trial definitions: schema validation with file + JSON path, the typed model, and the
agreement between the schema's rule types and the engine's evaluators."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility.rules import EVALUATORS
from cds_hooks.trials import TrialDefinitionError, load_trials
from cds_hooks.trials.loader import PACKAGED_DIR
from cds_hooks.trials.model import TrialDefinition
from cds_hooks.trials.params import RULE_MODELS, SCHEMA_PATH
from cds_hooks.trials.schema import schema_with_rules
from fhir_mappings.terminology import load_terminology

TRIAL = "scrt-capeox-serplulimab-rectal"
DATA_TRIALS = Path(__file__).resolve().parents[1] / "data" / "trials"
CRITERIA = [
    "informed_consent",
    "age",
    "deceased",
    "rectal_adenocarcinoma",
    "distance_from_anal_verge",
    "synchronous_oligometastases",
    "msi_mmr",
    "measurable_lesion",
    "ecog",
    "anc",
    "platelets",
    "hemoglobin",
    "total_bilirubin",
    "alt_ast",
    "albumin",
    "renal_function",
    "urine_protein",
    "inr",
    "aptt",
    "anticoagulants",
    "life_expectancy",
    "pregnancy_contraception",
    "prior_immunotherapy",
]


def first_trial() -> TrialDefinition:
    return next(t for t in load_trials() if t.id == TRIAL)


def packaged() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((PACKAGED_DIR / f"{TRIAL}.json").read_text())
    return raw


def write(tmp_path: Path, raw: Any, name: str = TRIAL) -> Path:
    (tmp_path / f"{name}.json").write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return tmp_path


def broken(tmp_path: Path, mutate: Callable[[dict[str, Any]], object]) -> Path:
    raw = packaged()
    mutate(raw)
    return write(tmp_path, raw)


def test_first_trial_has_every_criterion_with_its_source_text() -> None:
    trial = first_trial()
    assert trial.id == TRIAL
    assert trial.url == "https://clinicaltrials.gov/study/NCT06850103"
    assert trial.registry_id == "NCT06850103"
    assert [c.id for c in trial.criteria] == CRITERIA
    attestations = {c.id for c in trial.criteria if c.kind == "attestation"}
    assert attestations == {"informed_consent", "life_expectancy", "pregnancy_contraception"}
    trial_text_words = ("Informed Consent", "18-75", "anal verge", "RECIST", "ECOG", "INR")
    source = " ".join(c.source_text or "" for c in trial.criteria)
    assert all(c.source_text for c in trial.criteria)
    assert all(word in source for word in trial_text_words)


def test_lookback_default_and_per_criterion_override() -> None:
    trial = first_trial()
    assert trial.criterion("anc").lookback_days == 28
    assert trial.criterion("msi_mmr").lookback_days == 3650
    assert trial.criterion("distance_from_anal_verge").lookback_days == 90


def test_code_set_views_include_nested_rules() -> None:
    trial = first_trial()
    observations = trial.observation_code_sets()
    # alt/ast sit inside all_of; clearance and weight inside any_of → first_decided.
    assert {"alt", "ast", "creatinine_clearance", "body_weight", "anc", "ecog"} <= observations
    assert "rectal_cancer_dx" not in observations
    assert {"rectal_adenocarcinoma_dx", "secondary_malignancy_dx"} <= trial.condition_code_sets()
    assert trial.medication_code_sets() == {"anticoagulants", "immune_checkpoint_inhibitors"}
    assert trial.report_code_sets() == {"mri_pelvis_report"}
    assert set(trial.treatment_code_sets) <= trial.all_code_sets()


def test_every_code_set_named_by_the_trial_exists() -> None:
    terminology = load_terminology()
    trial = first_trial()
    assert sorted(n for n in trial.all_code_sets() if n not in terminology.code_sets) == []


def test_schema_rule_types_are_exactly_the_evaluators() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    assert set(schema["$defs"]["rule"]["properties"]["type"]["enum"]) == set(EVALUATORS)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda raw: raw.update(lookback_days="28"), r"/lookback_days: '28' is not of type"),
        (lambda raw: raw["registry"].update(url="http://x"), r"/registry/url: 'http://x'"),
        (lambda raw: raw["criteria"][3].update(kind="maybe"), r"/criteria/3/kind: 'maybe'"),
        (
            lambda raw: raw["criteria"][0]["rule"].update(type="vibes"),
            r"/criteria/0/rule/type: 'vibes' is not one of",
        ),
        (
            lambda raw: raw["criteria"][13]["rule"]["rules"][1].pop("max_multiple"),
            r"/criteria/13/rule/rules/1: 'max_multiple' is a required property",
        ),
        (
            lambda raw: raw["criteria"][15]["rule"]["rules"][1]["rules"][1].update(value="50"),
            r"/criteria/15/rule/rules/1/rules/1/value: '50' is not of type 'number'",
        ),
        (
            lambda raw: raw["criteria"][1].update(threshold=3),
            r"/criteria/1: Additional properties are not allowed \('threshold'",
        ),
        (lambda raw: raw.pop("criteria"), r"/: 'criteria' is a required property"),
    ],
)
def test_broken_definition_names_file_and_json_path(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], object], where: str
) -> None:
    with pytest.raises(TrialDefinitionError, match=rf"{TRIAL}\.json: {where}"):
        load_trials(broken(tmp_path, mutate))


def test_unreadable_mismatched_duplicate_and_empty(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    with pytest.raises(TrialDefinitionError, match=r"x\.json: cannot read trial definition"):
        load_trials(write(folder, "{", "x"))
    folder = tmp_path / "b"
    folder.mkdir()
    with pytest.raises(TrialDefinitionError, match=r"other\.json: /id: .* does not match"):
        load_trials(write(folder, packaged(), "other"))
    folder = tmp_path / "c"
    folder.mkdir()
    raw = packaged()
    raw["criteria"].append(raw["criteria"][1])
    with pytest.raises(TrialDefinitionError, match=r"/criteria: duplicate criterion ids \['age'\]"):
        load_trials(write(folder, raw))
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(TrialDefinitionError, match="no trial definitions found"):
        load_trials(folder)


def test_unknown_code_set_or_rule_type_fails_when_the_engine_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = broken(tmp_path, lambda raw: raw["criteria"][10]["rule"].update(code_set="plt"))
    with pytest.raises(TrialDefinitionError, match=r"unknown code sets \['plt'\]"):
        Engine.default(folder)
    # A type the schema allows but no evaluator implements (schema and code out of step).
    monkeypatch.delitem(EVALUATORS, "ordinal_grade")
    with pytest.raises(TrialDefinitionError, match="urine_protein: unknown rule type"):
        Engine.default()


def test_second_trial_loads_from_data_alone() -> None:
    (trial,) = load_trials(DATA_TRIALS)
    assert trial.id == "strict-labs-demo"
    assert trial.criterion("anc").lookback_days == 14
    assert trial.observation_code_sets() == {"anc", "hemoglobin", "total_bilirubin"}
    engine = Engine.default(DATA_TRIALS)
    assert list(engine.trials) == ["strict-labs-demo"]


def test_committed_schema_is_generated_from_the_parameter_models() -> None:
    """One source of truth: `python -m cds_hooks.trials.schema` rewrites the schema file."""
    committed = json.loads(SCHEMA_PATH.read_text())
    assert committed == schema_with_rules(committed)
    assert set(committed["$defs"]["rule"]["properties"]["type"]["enum"]) == set(RULE_MODELS)


def test_a_rule_cannot_carry_another_rules_keys(tmp_path: Path) -> None:
    # "max_multiple" belongs to lab_uln_multiple, not to the ANC lab_threshold.
    folder = broken(tmp_path, lambda raw: raw["criteria"][8]["rule"].update(max_multiple=2))
    with pytest.raises(
        TrialDefinitionError,
        match=r"/criteria/8/rule: Additional properties are not allowed \('max_multiple'",
    ):
        load_trials(folder)


def test_packaged_trials_with_registry_ids_and_statuses() -> None:
    trials = {t.registry_id: t for t in load_trials()}
    assert {r: t.recruitment_status for r, t in trials.items()} == {
        "NCT06850103": "recruiting",
        "NCT06462053": "recruiting",
        "NCT07057089": "recruiting",
        "NCT01558921": "completed",
    }
    assert not trials["NCT01558921"].recruiting
    for trial in trials.values():
        assert trial.url == f"https://clinicaltrials.gov/study/{trial.registry_id}"
        # Every criterion keeps its registry source text and a role.
        assert all(c.source_text and c.role for c in trial.criteria), trial.id
    roles = [c.role for c in trials["NCT06462053"].criteria]
    assert (roles.count("inclusion"), roles.count("exclusion")) == (10, 10)
    # A recorded death excludes from every trial, whatever its registry text says.
    for trial in trials.values():
        (deceased,) = [c for c in trial.criteria if c.rule["type"] == "deceased"]
        assert (deceased.id, deceased.role, deceased.kind) == ("deceased", "exclusion", "data")


def test_neo_field_states_the_missing_exclusion_text() -> None:
    trial = next(t for t in load_trials() if t.registry_id == "NCT07057089")
    missing = [c for c in trial.criteria if c.source_text == "[not available]"]
    assert [c.id for c in missing] == ["exclusion_7", "exclusion_8"]
    assert all(c.kind == "data" and c.rule["type"] == "study_team" for c in missing)
    assert any("not available" in note for note in trial.raw["notes"])


def test_reads_name_resource_types_and_code_sets() -> None:
    trial = next(t for t in load_trials() if t.id == "torch-e2")
    reads = {(r.resource_type, r.code_set) for r in trial.reads()}
    assert ("AllergyIntolerance", "therapy_component_allergens") in reads
    assert ("Procedure", "treatment_radiotherapy") in reads
    assert ("MedicationStatement", "immunosuppressants") in reads
    assert ("Observation", "karnofsky") in reads
    # History reads ask for every status, not only active orders.
    assert any(r.all_statuses for r in trial.reads() if r.resource_type == "MedicationRequest")
