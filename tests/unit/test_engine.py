from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility import rules as rules_module
from cds_hooks.eligibility.engine import _safe
from cds_hooks.eligibility.results import Evidence, TrialResult
from cds_hooks.eligibility.rules import Outcome
from cds_hooks.trials import TrialDefinitionError, load_trials
from cds_hooks.trials.loader import PACKAGED_DIR
from fhir_mappings.record import build_record
from fixtures import generate as g

AS_OF = g.AS_OF
TRIAL = "scrt-capeox-serplulimab-rectal"
DATA_TRIALS = Path(__file__).resolve().parents[1] / "data" / "trials"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def screen(engine: Engine, persona: g.Persona, **kw: Any) -> TrialResult:
    record = build_record(persona.resources, **kw)
    return engine.screen(record, AS_OF, [TRIAL]).trials[0]


def without(persona: g.Persona, *codes: str) -> g.Persona:
    for code in codes:
        persona.drop(g.has_code(code))
    return persona


def test_base_persona_meets_every_data_criterion(engine: Engine) -> None:
    result = screen(engine, g.base("p"))
    assert result.status == "likely_eligible"
    for criterion in result.criteria:
        if criterion.status == "met":
            assert any(e.date for e in criterion.evidence), criterion.id


def test_unknown_unit_gives_unknown_with_reason(engine: Engine) -> None:
    p = without(g.base("p"), "751-8")
    p.lab(g.ANC, 2.0, "furlongs/L", ucum=False)
    anc = screen(engine, p).criterion("anc")
    assert anc.status == "unknown"
    assert "unit 'furlongs/L' not recognised" in anc.reason
    assert anc.evidence[0].unit == "furlongs/L"


def test_stale_lab_gives_unknown_and_names_the_old_result(engine: Engine) -> None:
    p = without(g.base("p"), "777-3")
    stale = p.lab(g.PLT, 250, "10*9/L", days_before=29)
    platelets = screen(engine, p).criterion("platelets")
    assert platelets.status == "unknown"
    assert "no result in the last 28 days" in platelets.reason
    assert f"Observation/{stale['id']}), 29 days old" in platelets.reason


def test_lookback_window_is_inclusive(engine: Engine) -> None:
    p = without(g.base("p"), "777-3")
    p.lab(g.PLT, 250, "10*9/L", days_before=28)
    assert screen(engine, p).criterion("platelets").status == "met"


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "entered-in-error"])
def test_non_final_result_does_not_count(engine: Engine, status: str) -> None:
    p = without(g.base("p"), "718-7")
    p.lab(g.HB, 12.0, "g/dL", days_before=2, status=status)
    hemoglobin = screen(engine, p).criterion("hemoglobin")
    assert hemoglobin.status == "unknown"
    assert f"{status} result on" in hemoglobin.reason


def test_most_recent_result_decides(engine: Engine) -> None:
    p = without(g.base("p"), "751-8")
    p.lab(g.ANC, 3.0, "10*9/L", days_before=20)
    p.lab(g.ANC, 1.1, "10*9/L", days_before=2)
    assert screen(engine, p).criterion("anc").status == "not_met"


def test_future_dated_result_is_ignored(engine: Engine) -> None:
    p = without(g.base("p"), "751-8")
    p.lab(g.ANC, 3.0, "10*9/L", days_before=-3)
    assert screen(engine, p).criterion("anc").status == "unknown"


def test_uln_from_reference_range_or_default_is_named(engine: Engine) -> None:
    p = without(g.base("p"), "1975-2")
    p.lab(g.TBIL, 1.7, "mg/dL", high=1.0)  # 1.7 > 1.5 × 1.0
    own = screen(engine, p).criterion("total_bilirubin")
    assert own.status == "not_met"
    assert "from the Observation's referenceRange" in (own.evidence[0].note or "")
    p = without(g.base("p"), "1975-2")
    p.lab(g.TBIL, 1.7, "mg/dL")  # default ULN 1.2: 1.7 ≤ 1.8
    default = screen(engine, p).criterion("total_bilirubin")
    assert default.status == "met"
    assert "default ULN 1.2 mg/dL" in (default.evidence[0].note or "")


def test_default_uln_is_sex_specific(engine: Engine) -> None:
    def creatinine_for(gender: str) -> str:
        p = without(g.base("p", gender=gender), "2160-0")
        p.lab(g.CREAT, 1.7, "mg/dL")  # F: 1.5 × 1.04 = 1.56 < 1.7; M: 1.5 × 1.35 = 2.03
        return screen(engine, p).criterion("renal_function").reason

    assert "1.63× ULN" in creatinine_for("female")
    assert "1.26× ULN" in creatinine_for("male")


def test_alt_ast_either_high_fails_one_missing_is_unknown(engine: Engine) -> None:
    p = without(g.base("p"), "1920-8")
    assert screen(engine, p).criterion("alt_ast").status == "unknown"
    p.lab(g.AST, 200, "U/L", high=40)
    assert screen(engine, p).criterion("alt_ast").status == "not_met"


def test_urine_protein_dipstick_then_24h(engine: Engine) -> None:
    p = without(g.base("p"), "20454-5")
    p.coded(g.DIP, (g.LOINC, "LA11835-8", "3+"), 5)
    assert screen(engine, p).criterion("urine_protein").status == "unknown"
    p.lab(g.UP24, 1200, "mg/(24.h)", days_before=3)  # 1.2 g ≥ 1 g
    assert screen(engine, p).criterion("urine_protein").status == "not_met"


def test_measured_clearance_supersedes_cockcroft_gault(engine: Engine) -> None:
    p = without(g.base("p"), "2160-0")
    p.lab(g.CREAT, 3.0, "mg/dL", high=1.2)
    p.lab(g.WEIGHT, 60, "kg")
    assert screen(engine, p).criterion("renal_function").status == "not_met"
    p.lab((g.LOINC, "2164-2", "Creatinine renal clearance in 24 hour Urine"), 55, "mL/min")
    assert screen(engine, p).criterion("renal_function").status == "met"


def test_active_anticoagulant_is_named(engine: Engine) -> None:
    p = g.base("p")
    p.med(g.APIXABAN, 30)
    result = screen(engine, p).criterion("anticoagulants")
    assert result.status == "unknown"
    assert "apixaban" in result.reason
    assert "7–14 days" in result.reason
    p = g.base("p2")
    p.med(g.APIXABAN, 30, status="stopped")
    assert screen(engine, p).criterion("anticoagulants").status == "met"


def test_unavailable_data_makes_dependent_criteria_unknown(engine: Engine) -> None:
    result = screen(engine, g.base("p"), unavailable={"Observation": "FHIR server error (503)"})
    assert result.criterion("anc").status == "unknown"
    assert "FHIR server error" in result.criterion("anc").reason
    assert result.criterion("age").status == "met"
    assert result.criterion("rectal_adenocarcinoma").status == "met"


def test_attestation_met_only_with_explicit_record(engine: Engine) -> None:
    p = g.base("p")
    p.consent(3, True)
    assert screen(engine, p).criterion("informed_consent").status == "met"


def test_consent_is_scoped_to_one_trial(engine: Engine) -> None:
    # A consent that names no trial, or another trial, never satisfies this one.
    p = g.base("p")
    p.obs((g.LOCAL, "informed-consent-signed", "Consent"), 3, valueBoolean=True)
    assert screen(engine, p).criterion("informed_consent").status == "unknown"
    p = g.base("p")
    p.consent(3, True, registry="NCT06462053")
    assert screen(engine, p).criterion("informed_consent").status == "unknown"
    torch = engine.screen(build_record(p.resources), AS_OF, ["torch-e2"]).trials[0]
    assert torch.criterion("informed_consent").status == "met"


def test_an_exclusion_cleared_with_nothing_on_record_is_unknown() -> None:
    bare = Outcome("not_met", "nothing found")
    assert _safe(bare, "exclusion").status == "unknown"
    # For an inclusion, not_met excludes the patient: no clearance is claimed.
    assert _safe(bare, "inclusion").status == "not_met"
    searched = Outcome("not_met", "none", (Evidence("Condition?patient=p", 3, None, "2026-03-02"),))
    assert _safe(searched, "exclusion").status == "not_met"


def test_met_without_dated_evidence_is_downgraded() -> None:
    undated = Outcome("met", "looks fine", (Evidence("Observation/x", 1, None, None),))
    assert _safe(undated).status == "unknown"
    dated = Outcome("met", "fine", (Evidence("Observation/x", 1, None, "2026-01-01"),))
    assert _safe(dated).status == "met"


def test_evaluator_crash_is_unknown_not_a_dropped_patient(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> Outcome:
        raise RuntimeError("bug")

    # Evaluators are looked up when an engine plans its trials, so the patch comes first.
    monkeypatch.setitem(rules_module.EVALUATORS, "age_range", boom)
    result = screen(Engine.default(), g.base("p"))
    assert result.criterion("age").status == "unknown"
    assert result.criterion("anc").status == "met"


def test_second_trial_needs_no_python_change() -> None:
    engine = Engine.default(DATA_TRIALS)
    p = g.base("p")  # ANC 3.2, Hb 13.1 g/dL, bilirubin 0.8 (ULN 1.2)
    result = engine.screen(build_record(p.resources), AS_OF).trials[0]
    assert result.trial == "strict-labs-demo"
    assert {c.id: c.status for c in result.criteria} == {
        "adult": "met",
        "anc": "met",
        "hemoglobin": "met",
        "bilirubin": "met",
    }
    p = without(g.base("p"), "718-7")
    p.lab(g.HB, 12.5, "g/dL", days_before=5)  # 125 g/L < 130 g/L
    result = engine.screen(build_record(p.resources), AS_OF).trials[0]
    assert result.criterion("hemoglobin").status == "not_met"
    assert result.status == "not_eligible"


def _broken(tmp_path: Path, mutate: Any) -> Path:
    raw = json.loads((PACKAGED_DIR / f"{TRIAL}.json").read_text())
    mutate(raw)
    (tmp_path / f"{TRIAL}.json").write_text(json.dumps(raw))
    return tmp_path


def test_broken_definition_names_file_and_path(tmp_path: Path) -> None:
    folder = _broken(tmp_path, lambda raw: raw["criteria"][8]["rule"].update(op="=>"))
    with pytest.raises(TrialDefinitionError, match=r"rectal\.json: /criteria/8/rule/op"):
        load_trials(folder)


def test_missing_required_rule_parameter_is_reported(tmp_path: Path) -> None:
    folder = _broken(tmp_path, lambda raw: raw["criteria"][8]["rule"].pop("unit"))
    with pytest.raises(TrialDefinitionError, match=r"/criteria/8/rule: 'unit' is a required"):
        load_trials(folder)


def test_unknown_code_set_fails_at_start_up(tmp_path: Path) -> None:
    folder = _broken(tmp_path, lambda raw: raw["criteria"][8]["rule"].update(code_set="anc_typo"))
    with pytest.raises(TrialDefinitionError, match="unknown code sets \\['anc_typo'\\]"):
        Engine.default(folder)


def test_first_trial_encodes_every_criterion_in_order() -> None:
    trial = next(t for t in load_trials() if t.id == TRIAL)
    assert [c.id for c in trial.criteria] == g.D
    assert {c.id for c in trial.criteria if c.kind == "attestation"} == {
        "informed_consent",
        "life_expectancy",
        "pregnancy_contraception",
    }


def test_bridging_heparin_is_not_a_drug_to_stop(engine: Engine) -> None:
    # The trial replaces stopped anticoagulants with low-molecular-weight heparin.
    p = g.base("p")
    p.med((g.RX, "67108", "enoxaparin"), 5)
    p.med(("http://www.whocc.no/atc", "B01AB05", "enoxaparin"), 5)
    assert screen(engine, p).criterion("anticoagulants").status == "met"
    p.med(("http://www.whocc.no/atc", "B01AF02", "apixaban"), 5)
    assert screen(engine, p).criterion("anticoagulants").status == "unknown"
