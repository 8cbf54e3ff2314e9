"""`trial-cds trials check` (schema + semantic lint) and `trial-cds trials show`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cds_hooks.cli import main
from cds_hooks.trials.lint import outcomes
from cds_hooks.trials.loader import PACKAGED_DIR
from cds_hooks.trials.params import parse_rule

TORCH = "torch-e2"


def torch() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((PACKAGED_DIR / f"{TORCH}.json").read_text())
    return raw


def criterion(raw: dict[str, Any], cid: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in raw["criteria"] if c["id"] == cid)
    return found


def broken(tmp_path: Path, mutate: Callable[[dict[str, Any]], object]) -> Path:
    raw = torch()
    mutate(raw)
    path = tmp_path / f"{TORCH}.json"
    path.write_text(json.dumps(raw))
    return path


def test_every_packaged_definition_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", "check"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith("ok")
    assert err == ""


def _index(raw: dict[str, Any], cid: str) -> int:
    return [c["id"] for c in raw["criteria"]].index(cid)


STAGE = _index(torch(), "clinical_stage")
AGE = _index(torch(), "age")
LABS = _index(torch(), "baseline_labs")


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (
            lambda raw: criterion(raw, "kps")["rule"].update(code_set="kps_typo"),
            rf"/criteria/{_index(torch(), 'kps')}/rule: error: unknown code set 'kps_typo'",
        ),
        (
            lambda raw: criterion(raw, "age")["rule"].update(min=80),
            rf"/criteria/{AGE}/rule: error: impossible age range 80–75",
        ),
        (
            lambda raw: criterion(raw, "clinical_stage")["rule"]["rules"][0].update(
                min="T4a", max="T1"
            ),
            rf"/criteria/{STAGE}/rule/rules/0: error: impossible range T4a–T1",
        ),
        (
            lambda raw: criterion(raw, "clinical_stage")["rule"]["rules"][0].update(max="T9"),
            rf"/criteria/{STAGE}/rule/rules/0: error: 'T9' is not on the scale",
        ),
        (
            lambda raw: criterion(raw, "baseline_labs")["rule"]["rule"]["rules"].append(
                {
                    "type": "lab_threshold",
                    "label": "Hemoglobin",
                    "code_set": "hemoglobin",
                    "op": "<",
                    "value": 80,
                    "unit": "g/L",
                }
            ),
            rf"/criteria/{LABS}/rule/rule/rules/6: error: contradicts .*rules/1",
        ),
        (
            lambda raw: criterion(raw, "kps").pop("source_text"),
            rf"/criteria/{_index(torch(), 'kps')}: error: kps: no registry source text",
        ),
        (
            lambda raw: criterion(raw, "kps").update(
                rule={"type": "not", "rule": {"type": "study_team", "reason": "x"}}
            ),
            rf"/criteria/{_index(torch(), 'kps')}/rule/rule: error: this branch can never decide",
        ),
        (
            lambda raw: criterion(raw, "kps").pop("role"),
            rf"/criteria/{_index(torch(), 'kps')}: error: 'role' is a required property",
        ),
        (
            lambda raw: criterion(raw, "kps")["rule"].update(max_multiple=2),
            rf"/criteria/{_index(torch(), 'kps')}/rule: error: Additional properties",
        ),
    ],
)
def test_broken_definitions_fail_with_file_and_json_path(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mutate: Callable[[dict[str, Any]], object],
    where: str,
) -> None:
    path = broken(tmp_path, mutate)
    assert main(["trials", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert re.search(where, err), err


def test_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", "check", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_outcomes_follow_kleene_logic() -> None:
    team = {"type": "study_team", "reason": "x"}
    age = {"type": "age_range", "label": "Age", "min": 18}
    assert outcomes(parse_rule(team)) == {"unknown"}
    assert outcomes(parse_rule({"type": "all_of", "rules": [age, team]})) == {
        "not_met",
        "unknown",
    }
    assert outcomes(parse_rule({"type": "any_of", "rules": [age, team]})) == {"met", "unknown"}
    assert outcomes(
        parse_rule({"type": "not", "rule": {"type": "any_of", "rules": [age, team]}})
    ) == {
        "not_met",
        "unknown",
    }


def test_show_renders_markdown_for_sign_off(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", "show", "NCT07057089"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Involved-field radiotherapy")
    assert "[NCT07057089](https://clinicaltrials.gov/study/NCT07057089)" in out
    assert "## Inclusion criteria (10)" in out
    assert "## Exclusion criteria (9)" in out
    assert "**needs the study team**: the registry text of this exclusion criterion" in out
    assert "Reviewed and signed off by" in out
    assert main(["trials", "show", "rapido"]) == 0
    assert "status **completed** (never suggested on a card)" in capsys.readouterr().out


def test_show_unknown_trial(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trials", "show", "NCT0"]) == 2
    assert "unknown trial 'NCT0'" in capsys.readouterr().err
