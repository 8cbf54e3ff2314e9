from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from cds_hooks.cli import main
from cds_hooks.eligibility import Engine
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record

TRIAL = "scrt-capeox-serplulimab-rectal"
BUNDLE = (
    Path(__file__).resolve().parents[2]
    / "fixtures"
    / "patients"
    / "likely_eligible"
    / "bundle.json"
)


def _bundle(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "in.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ({"resourceType": "Patient", "id": "x"}, "expected 'Bundle'"),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, "no Patient resource"),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Patient", "id": "a"}},
                    {"resource": {"resourceType": "Patient", "id": "b"}},
                ],
            },
            "2 different Patient",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object, message: str
) -> None:
    code = main(["screen", str(_bundle(tmp_path, content)), "--as-of", "2026-03-02"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_bad_date_and_unknown_trial(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", str(BUNDLE), "--as-of", "02/03/2026"]) == 2
    assert "not a date" in capsys.readouterr().err
    assert main(["screen", str(BUNDLE), "--trial", "nope", "--as-of", "2026-03-02"]) == 2
    assert "unknown trial 'nope'" in capsys.readouterr().err


def test_missing_file_has_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cds_hooks.cli", "screen", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot read" in done.stderr


def test_text_output_is_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", str(BUNDLE), "--as-of", "2026-03-02"]) == 0
    out = capsys.readouterr().out
    assert "scrt-capeox-serplulimab-rectal (NCT06850103, recruiting): likely_eligible" in out
    assert "rapido (NCT01558921, completed): " in out
    header = next(line for line in out.splitlines() if line.startswith("criterion"))
    assert header.split() == ["criterion", "role", "status", "value", "date", "reason"]
    assert any(line.startswith("anc ") and " met " in line for line in out.splitlines())
    platelets = next(line for line in out.splitlines() if line.startswith("platelets "))
    assert platelets.split()[1:5] == ["inclusion", "met", "245", "10*9/L"]  # as people write
    prior = next(line for line in out.splitlines() if line.startswith("prior_immunotherapy "))
    assert prior.split()[1:3] == ["exclusion", "not_met"]


def test_json_output_is_the_engine_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", str(BUNDLE), "--as-of", "2026-03-02", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    record = build_record(resources_from_bundle(json.loads(BUNDLE.read_text())))
    expected = Engine.default().screen(record, date(2026, 3, 2)).to_json()
    assert printed == expected
    assert list(printed) == ["patient", "as_of", "trials"]
    [first] = [t for t in printed["trials"] if t["registry"] == "NCT06850103"]
    assert (first["trial"], first["recruitment_status"]) == (
        "scrt-capeox-serplulimab-rectal",
        "recruiting",
    )
    evidence = first["criteria"][8]["evidence"][0]
    assert {"reference", "value", "unit", "date"} <= set(evidence)
    roles = {c["id"]: c["role"] for c in first["criteria"]}
    assert (roles["age"], roles["prior_immunotherapy"]) == ("inclusion", "exclusion")
    by_registry = {t["registry"]: t["recruitment_status"] for t in printed["trials"]}
    assert by_registry == {
        "NCT06850103": "recruiting",
        "NCT06462053": "recruiting",
        "NCT07057089": "recruiting",
        "NCT01558921": "completed",
    }


def test_a_bundle_saved_with_a_byte_order_mark_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marked = tmp_path / "marked.json"
    marked.write_bytes(b"\xef\xbb\xbf" + BUNDLE.read_bytes())
    args = ["--as-of", "2026-03-02", "--format", "json"]
    assert main(["screen", str(BUNDLE), *args]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["screen", str(marked), *args]) == 0
    assert json.loads(capsys.readouterr().out) == plain


def test_as_of_defaults_to_today(capsys: pytest.CaptureFixture[str]) -> None:
    # Today read before and after the run: the command's own read lies between, so a run
    # across midnight passes too.
    before = date.today().isoformat()
    assert main(["screen", str(BUNDLE), "--format", "json"]) == 0
    after = date.today().isoformat()
    assert json.loads(capsys.readouterr().out)["as_of"] in {before, after}


def test_trials_dir_and_repeated_trial(capsys: pytest.CaptureFixture[str]) -> None:
    trials_dir = Path(__file__).resolve().parents[1] / "data" / "trials"
    args = ["screen", str(BUNDLE), "--as-of", "2026-03-02", "--format", "json"]
    assert main([*args, "--trials-dir", str(trials_dir), "--trial", "strict-labs-demo"]) == 0
    assert [t["trial"] for t in json.loads(capsys.readouterr().out)["trials"]] == [
        "strict-labs-demo"
    ]
    assert main([*args, "--trials-dir", str(trials_dir), "--trial", TRIAL]) == 2
    err = capsys.readouterr().err
    assert f"unknown trial '{TRIAL}' (loaded: strict-labs-demo)" in err


def test_deeply_nested_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _bundle(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert main(["screen", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nested too deeply" in err


def test_broken_trial_definition_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.json").write_text('{"id": "bad"}')
    assert main(["screen", str(BUNDLE), "--trials-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "bad.json: /: 'title' is a required property" in err
    assert err.count("\n") == 1
