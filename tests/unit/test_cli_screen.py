from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cds_hooks.cli import main

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
    assert "scrt-capeox-serplulimab-rectal: likely_eligible" in out
    header = next(line for line in out.splitlines() if line.startswith("criterion"))
    assert header.split() == ["criterion", "status", "value", "date", "reason"]
    assert any(line.startswith("anc ") and " met " in line for line in out.splitlines())
