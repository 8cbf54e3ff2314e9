"""Golden tests: every fixture persona screens to its reviewed expected.json.

The statuses in each expected.json were derived by hand from the trial's rules
(fixtures/generate.py EXPECTED_STATUS, explained per persona in fixtures/patients/README.md);
reason and evidence text were then taken from the engine only where its status agreed.
Each persona is screened against the trials it was written for (its expected.json lists
them), every one by its registry id.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record
from fixtures import generate

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "fixtures" / "patients"
PERSONAS = sorted(p.name for p in PATIENTS.iterdir() if (p / "bundle.json").exists())
TRIAL = "scrt-capeox-serplulimab-rectal"
STATUSES = {"met", "not_met", "unknown"}
# An active anticoagulant order gives `unknown` (it must be stopped before surgery, which a
# person arranges), so the rules leave anticoagulants no `not_met` path.
NO_NOT_MET_PATH = {"anticoagulants"}
ENGINE = Engine.default()
REGISTRY = {t.id: t.registry_id for t in ENGINE.trials.values()}


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _expected(persona: str) -> dict[str, Any]:
    data: dict[str, Any] = _load(PATIENTS / persona / "expected.json")
    return data


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.default()


def _diff(expected: dict[str, Any], got: dict[str, Any]) -> str:
    """A readable account of what differs, criterion by criterion."""
    lines = [
        f"{key}: expected {expected.get(key)!r} got {got.get(key)!r}"
        for key in ("patient", "as_of")
        if expected.get(key) != got.get(key)
    ]
    exp_trials = {t["trial"]: t for t in expected.get("trials", [])}
    got_trials = {t["trial"]: t for t in got.get("trials", [])}
    if set(exp_trials) != set(got_trials):
        lines.append(f"trials: expected {sorted(exp_trials)} got {sorted(got_trials)}")
    for trial_id in sorted(set(exp_trials) & set(got_trials)):
        e_trial, g_trial = exp_trials[trial_id], got_trials[trial_id]
        if e_trial["status"] != g_trial["status"]:
            lines.append(f"{trial_id}: expected {e_trial['status']} got {g_trial['status']}")
        e_ids = [c["id"] for c in e_trial["criteria"]]
        g_ids = [c["id"] for c in g_trial["criteria"]]
        if e_ids != g_ids:
            lines.append(f"criterion ids/order: expected {e_ids} got {g_ids}")
        got_by_id = {c["id"]: c for c in g_trial["criteria"]}
        for e in e_trial["criteria"]:
            g = got_by_id.get(e["id"])
            if g is None or e == g:
                continue
            if e["status"] != g["status"]:
                lines.append(f"{e['id']}: STATUS expected {e['status']} got {g['status']}")
            if e["reason"] != g["reason"]:
                lines.append(
                    f"{e['id']}: reason\n    expected {e['reason']}\n    got      {g['reason']}"
                )
            if e["evidence"] != g["evidence"]:
                lines.append(f"{e['id']}: evidence")
                lines.append(f"    expected {e['evidence']}\n    got      {g['evidence']}")
    return "\n".join(lines)


@pytest.mark.parametrize("persona", PERSONAS)
def test_persona_matches_expected(engine: Engine, persona: str) -> None:
    folder = PATIENTS / persona
    expected = _expected(persona)
    record = build_record(resources_from_bundle(_load(folder / "bundle.json")))
    trials = [t["trial"] for t in expected["trials"]]
    got = engine.screen(record, generate.AS_OF, trials).to_json()
    assert got == expected, f"{persona}:\n{_diff(expected, got)}"


@pytest.mark.parametrize("persona", PERSONAS)
def test_expected_statuses_match_the_hand_derivation(persona: str) -> None:
    """expected.json must agree with the statuses derived by hand in fixtures/generate.py,
    so a regenerated golden file can never quietly absorb an engine bug."""
    by_trial = generate.EXPECTED_STATUS[persona]
    expected = _expected(persona)
    assert expected["as_of"] == generate.AS_OF.isoformat()
    assert [t["trial"] for t in expected["trials"]] == list(by_trial)
    for trial in expected["trials"]:
        hand = by_trial[trial["trial"]]
        assert trial["registry"] == REGISTRY[trial["trial"]]
        assert trial["status"] == hand["trial"]
        definition = ENGINE.trials[trial["trial"]]
        assert [c["id"] for c in trial["criteria"]] == [c.id for c in definition.criteria]
        assert {c["id"]: c["status"] for c in trial["criteria"]} == hand["criteria"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_hand_derived_trial_status_follows_from_the_criteria(persona: str) -> None:
    """The trial status rule, applied to the hand-derived criterion statuses."""
    for trial_id, hand in generate.EXPECTED_STATUS[persona].items():
        definition = ENGINE.trials[trial_id]
        statuses = hand["criteria"]
        roles = {c.id: c.role for c in definition.criteria}
        passing = {c: "met" if roles[c] == "inclusion" else "not_met" for c in statuses}
        failing = {c: "not_met" if roles[c] == "inclusion" else "met" for c in statuses}
        data = [c.id for c in definition.criteria if c.kind == "data"]
        if any(statuses[c] == failing[c] for c in statuses):
            rule = "not_eligible"
        elif all(statuses[c] == passing[c] for c in data):
            rule = "likely_eligible"
        else:
            rule = "possibly_eligible"
        assert hand["trial"] == rule, (persona, trial_id)


@pytest.mark.parametrize("persona", PERSONAS)
def test_bundle_is_the_generator_output(persona: str) -> None:
    """The committed bundle is exactly what fixtures/generate.py produces, so the persona
    described in the generator is the one the expected statuses were derived for."""
    people = generate.personas()
    persona_spec, bundle_type = people[persona]
    assert _load(PATIENTS / persona / "bundle.json") == persona_spec.bundle(bundle_type)


@pytest.mark.parametrize("persona", PERSONAS)
def test_met_criteria_carry_dated_evidence(persona: str) -> None:
    for trial in _expected(persona)["trials"]:
        for c in trial["criteria"]:
            assert c["status"] in STATUSES, (persona, c["id"])
            if c["status"] == "met" or (c["role"] == "exclusion" and c["status"] == "not_met"):
                # Met decides either way; an exclusion cleared must name what cleared it.
                assert c["evidence"], (persona, c["id"])
                assert all(e.get("reference") and e.get("date") for e in c["evidence"]), (
                    persona,
                    c["id"],
                )


def test_every_persona_has_a_hand_derivation() -> None:
    assert set(PERSONAS) == set(generate.EXPECTED_STATUS)
    assert len(PERSONAS) >= 16
    for by_trial in generate.EXPECTED_STATUS.values():
        for trial_id, hand in by_trial.items():
            assert set(hand["criteria"]) == {c.id for c in ENGINE.trials[trial_id].criteria}


def test_every_packaged_trial_has_personas_with_every_trial_status_it_can_reach() -> None:
    reached: dict[str, set[str]] = {t: set() for t in ENGINE.trials}
    for by_trial in generate.EXPECTED_STATUS.values():
        for trial_id, hand in by_trial.items():
            reached[trial_id].add(hand["trial"])
    assert reached[TRIAL] == {"likely_eligible", "possibly_eligible", "not_eligible"}
    # The others keep a criterion only the study team can decide (DPD status, missing
    # registry text, imaging judgements): never likely, but both other outcomes occur.
    for trial_id in set(ENGINE.trials) - {TRIAL}:
        assert reached[trial_id] == {"possibly_eligible", "not_eligible"}, trial_id


def test_bundle_types_include_searchset_and_transaction() -> None:
    types = {_load(PATIENTS / p / "bundle.json")["type"] for p in PERSONAS}
    assert {"collection", "searchset", "transaction"} <= types


def test_fixtures_cover_every_outcome_of_every_criterion() -> None:
    seen: dict[str, set[str]] = {c: set() for c in generate.D}
    trial_statuses: set[str] = set()
    for persona in PERSONAS:
        for trial in _expected(persona)["trials"]:
            if trial["trial"] != TRIAL:
                continue
            trial_statuses.add(trial["status"])
            for c in trial["criteria"]:
                seen[c["id"]].add(c["status"])
    missing = {}
    for criterion, got in seen.items():
        wanted = STATUSES - {"not_met"} if criterion in NO_NOT_MET_PATH else STATUSES
        if wanted - got:
            missing[criterion] = sorted(wanted - got)
    assert missing == {}
    assert trial_statuses == {"likely_eligible", "possibly_eligible", "not_eligible"}


def test_cli_reproduces_expected_json() -> None:
    folder = PATIENTS / "likely_eligible"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cds_hooks.cli",
            "screen",
            str(folder / "bundle.json"),
            "--as-of",
            "2026-03-02",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    # Every packaged trial is screened, each named by its registry id.
    assert {t["registry"] for t in got["trials"]} == set(REGISTRY.values())
    expected = _expected("likely_eligible")
    assert [t for t in got["trials"] if t["trial"] == TRIAL] == expected["trials"]
