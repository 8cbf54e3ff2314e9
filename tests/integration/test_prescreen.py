"""`trial-cds prescreen` on real Dask clusters, against `trial-cds screen` and the hook.

The export is built from the fixture personas (plus renamed copies) the way Bulk Data
servers write them: several files per type under different naming schemes, some gzipped,
a mixed-type file, lines shuffled, and a few bad lines at known places. Clusters: the
command's own `LocalCluster` (worker processes), a `LocalCluster(processes=True)` started
here, and a `dask scheduler` + `dask worker` pair started as separate processes.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow.parquet as pq
import pytest

from benchmarks.synth import population
from cds_hooks.cards import RESULT_EXTENSION
from cds_hooks.cli import main
from cds_hooks.prescreen.pipeline import PrescreenOptions, run_prescreen
from cds_hooks.trials.loader import PACKAGED_DIR
from fixtures import generate as g
from tests.support.service import Service, free_port, start_service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "fixtures" / "patients"
AS_OF = "2026-03-02"
TRIAL = "scrt-capeox-serplulimab-rectal"
COPIES = 2
BIN = Path(sys.executable).parent


def persona_resources(name: str) -> list[dict[str, Any]]:
    bundle = json.loads((PATIENTS / name / "bundle.json").read_text())
    return [e["resource"] for e in bundle["entry"]]


NAMES = sorted(p.name for p in PATIENTS.iterdir() if (p / "bundle.json").exists())


def patient_id(resources: list[dict[str, Any]]) -> str:
    return str(next(r["id"] for r in resources if r["resourceType"] == "Patient"))


def renamed(resources: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """The same patient under new ids: same data, so the same statuses."""
    pid = patient_id(resources)
    out = copy.deepcopy(resources)
    for r in out:
        r["id"] = f"{r['id']}{suffix}"
        for key in ("subject", "patient"):
            if key in r:
                r[key] = {"reference": f"Patient/{pid}{suffix}"}
    return out


def canonical(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # An export has no order; the pre-screen reads each patient's resources by type and id.
    return sorted(resources, key=lambda r: (r["resourceType"], r["id"]))


@dataclass
class Export:
    path: Path
    bad: set[tuple[str, int]]
    source: dict[str, str]  # patient id → persona name


def write_export(folder: Path, patients: list[list[dict[str, Any]]], seed: int = 11) -> None:
    """NDJSON files as servers write them: per type (two naming schemes, half gzipped) and
    one mixed-type part file; lines shuffled."""
    rng = random.Random(seed)
    lines = [json.dumps(r) for resources in patients for r in resources]
    rng.shuffle(lines)
    by_type: dict[str, list[str]] = {}
    mixed: list[str] = []
    for line in lines:
        if rng.random() < 0.15:
            mixed.append(line)
        else:
            by_type.setdefault(json.loads(line)["resourceType"], []).append(line)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, kind_lines in by_type.items():
        half = len(kind_lines) // 2
        (folder / f"{kind}.ndjson").write_text("\n".join(kind_lines[:half]) + "\n")
        with gzip.open(folder / f"2.{kind}.ndjson.gz", "wt") as out:
            out.write("\n".join(kind_lines[half:]) + "\n")
    (folder / "part-0003.ndjson").write_text("\n".join(mixed) + "\n")


def inject_bad_lines(folder: Path) -> set[tuple[str, int]]:
    """A few bad lines at known places; returns their (file, line)."""
    bad: set[tuple[str, int]] = set()
    target = folder / "Observation.ndjson"
    lines = target.read_text().splitlines()
    lines.insert(4, '{"resourceType": "Observation", "id": "cut-off", "subj')
    lines.insert(9, '{"resourceType": "Observation", "id": "orphan", "status": "final"}')
    target.write_text("\n".join(lines) + "\n")
    bad |= {("Observation.ndjson", 5), ("Observation.ndjson", 10)}
    packed = folder / "2.Condition.ndjson.gz"
    with gzip.open(packed, "rt") as f:
        lines = f.read().splitlines()
    lines.insert(0, "[]")
    with gzip.open(packed, "wt") as out:
        out.write("\n".join(lines) + "\n")
    bad.add(("2.Condition.ndjson.gz", 1))
    return bad


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    folder = tmp_path_factory.mktemp("export")
    patients: list[list[dict[str, Any]]] = []
    source: dict[str, str] = {}
    for name in NAMES:
        resources = persona_resources(name)
        for k in range(COPIES + 1):
            copy_of = resources if k == 0 else renamed(resources, f"-copy{k}")
            patients.append(copy_of)
            source[patient_id(copy_of)] = name
    write_export(folder, patients)
    extra = folder / "Practitioner.ndjson"
    extra.write_text(json.dumps({"resourceType": "Practitioner", "id": "dr-who"}) + "\n")
    (folder / "manifest.json").write_text("{}")
    return Export(folder, inject_bad_lines(folder), source)


def screen_cli(bundle: Path) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(BIN / "trial-cds"),
            "screen",
            str(bundle),
            "--as-of",
            AS_OF,
            "--format",
            "json",
            "--trial",
            TRIAL,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def screen_in_process(bundle: Path) -> dict[str, Any]:
    """The same command, `cli.main`, without a new interpreter per patient."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["screen", str(bundle), "--as-of", AS_OF, "--format", "json", "--trial", TRIAL])
    assert code == 0
    result: dict[str, Any] = json.loads(buffer.getvalue())
    return result


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """`trial-cds screen --format json` of each persona, its resources in the order the
    pre-screen reads a patient (type, id). One persona of each status also runs as its own
    `trial-cds screen` process, which must print the same."""
    folder = tmp_path_factory.mktemp("bundles")
    found = {}
    for name in NAMES:
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in canonical(persona_resources(name))],
        }
        path = folder / f"{name}.json"
        path.write_text(json.dumps(bundle))
        found[name] = screen_in_process(path)
    subprocess_checked = ("likely_eligible", "data_quality_unknowns", "age_17")
    with ThreadPoolExecutor(max_workers=3) as pool:
        by_process = pool.map(screen_cli, [folder / f"{n}.json" for n in subprocess_checked])
        for name, result in zip(subprocess_checked, by_process, strict=True):
            assert result == found[name], name
    return found


def run_cli(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "trial-cds"), "prescreen", *argv],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def local_run(
    export: Export, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The README's local run: the command starts its own LocalCluster (worker processes)."""
    out = tmp_path_factory.mktemp("local")
    done = run_cli(
        str(export.path), "--out", str(out), "--as-of", AS_OF, "--workers", "2", "--trial", TRIAL
    )
    return done, out


def results(out: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for part in sorted((out / "results").glob("part-*.ndjson")):
        for line in part.read_text().splitlines():
            result = json.loads(line)
            found[result["patient"].split("/", 1)[1]] = result
    return found


def worklist(out: Path) -> list[dict[str, str]]:
    with (out / "worklist.csv").open() as f:
        return list(csv.DictReader(f))


def test_bad_lines_are_reported_with_file_and_line_and_set_the_exit_status(
    local_run: tuple[subprocess.CompletedProcess[str], Path], export: Export
) -> None:
    done, out = local_run
    assert done.returncode == 1, done.stderr[-3000:]
    with (out / "bad_lines.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["file"], int(r["line"])) for r in rows} == export.bad
    for file, line in export.bad:
        assert f"bad line {file}:{line}: " in done.stderr
    assert f"{len(export.source)} patients screened" in done.stdout
    assert "3 bad lines" in done.stdout
    assert "ignored 1 file(s)" in done.stderr  # manifest.json
    assert "screening patients" in done.stderr  # the progress bar
    assert not (out / "_partitions").exists()


def test_every_patient_and_trial_has_the_status_screen_gives(
    local_run: tuple[subprocess.CompletedProcess[str], Path],
    export: Export,
    screened: dict[str, dict[str, Any]],
) -> None:
    _, out = local_run
    rows = worklist(out)
    assert sorted(r["patient_id"] for r in rows) == sorted(export.source)
    for row in rows:
        expected = screened[export.source[row["patient_id"]]]["trials"][0]
        assert (row["trial"], row["registry"]) == (TRIAL, "NCT06850103")
        assert row["status"] == expected["status"], row["patient_id"]
        unknown = [c for c in expected["criteria"] if c["status"] == "unknown"]
        assert int(row["unknown"]) == len(unknown)
    order = ["likely_eligible", "possibly_eligible", "not_eligible"]
    ranks = [order.index(r["status"]) for r in rows]
    assert ranks == sorted(ranks)  # likely first
    table = pq.read_table(out / "worklist.parquet").to_pylist()
    assert [r["patient_id"] for r in table] == [r["patient_id"] for r in rows]
    assert all(isinstance(r["screen_by"], date | None) for r in table)


def test_screen_of_the_canonical_bundle_matches_the_reviewed_expected_results(
    screened: dict[str, dict[str, Any]],
) -> None:
    """The order the pre-screen reads a patient in changes nothing but the order of
    same-day evidence: statuses and reasons are those of the committed expected.json."""
    for name in NAMES:
        expected = json.loads((PATIENTS / name / "expected.json").read_text())
        reviewed = [t for t in expected["trials"] if t["trial"] == TRIAL]
        if not reviewed:
            continue  # a persona written for another trial
        got = screened[name]
        for mine, theirs in zip(got["trials"][0]["criteria"], reviewed[0]["criteria"], strict=True):
            assert {**mine, "evidence": None} == {**theirs, "evidence": None}, name
            assert sorted(map(json.dumps, mine["evidence"])) == sorted(
                map(json.dumps, theirs["evidence"])
            )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # These tests compare one trial's results: the service loads only that trial.
    trials = tmp_path_factory.mktemp("trials")
    shutil.copy(PACKAGED_DIR / f"{TRIAL}.json", trials)
    svc = start_service(tmp_path_factory.mktemp("svc"), CDS_TRIALS_DIR=str(trials))
    yield svc
    svc.stop()


def test_per_criterion_results_are_identical_in_hook_screen_and_prescreen(
    local_run: tuple[subprocess.CompletedProcess[str], Path],
    screened: dict[str, dict[str, Any]],
    service: Service,
) -> None:
    _, out = local_run
    prescreened = results(out)
    cards = 0
    for name in NAMES:
        resources = canonical(persona_resources(name))
        pid = patient_id(resources)
        from_screen = screened[name]
        assert prescreened[pid] == from_screen, name
        persona = SimpleNamespace(pid=pid, resources=resources)
        body = g.hook_request(persona, "patient-view")  # type: ignore[arg-type]
        body.pop("fhirServer")
        response = service.hook("trial-screening-patient-view", body)
        assert response.status_code == 200, response.text
        status = from_screen["trials"][0]["status"]
        if status == "not_eligible":
            assert response.json()["cards"] == []
            continue
        (card,) = response.json()["cards"]
        assert card["extension"][RESULT_EXTENSION] == from_screen, name
        cards += 1
    assert cards >= 10  # likely and possibly eligible personas answered with cards


def test_attrition_table_agrees_with_the_worklist(
    local_run: tuple[subprocess.CompletedProcess[str], Path], export: Export
) -> None:
    _, out = local_run
    rows = worklist(out)
    with (out / "attrition.csv").open() as f:
        attrition = list(csv.DictReader(f))
    prescreened = results(out)
    assert len(attrition) == len(prescreened[next(iter(prescreened))]["trials"][0]["criteria"])
    for row in attrition:
        assert int(row["met"]) + int(row["not_met"]) + int(row["unknown"]) == len(rows)
        statuses = [
            next(c for c in r["trials"][0]["criteria"] if c["id"] == row["criterion"])["status"]
            for r in prescreened.values()
        ]
        assert int(row["met"]) == statuses.count("met")
        assert int(row["unknown"]) == statuses.count("unknown")
        alone = [r for r in rows if r["excluded_by"] == row["title"]]
        assert int(row["excluded_alone"]) == len(alone)
    assert sum(int(r["excluded_alone"]) for r in attrition) > 0
    png = out / f"funnel-{TRIAL}.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    html = (out / "summary.html").read_text()
    assert "NCT06850103" in html
    assert "data:image/png;base64," in html


@pytest.fixture
def scheduler_pair(tmp_path: Path) -> Iterator[str]:
    """`dask scheduler` and `dask worker` as their own processes, on loopback, free ports."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = (tmp_path / "dask.log").open("wb")
    scheduler = subprocess.Popen(
        [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [
            str(BIN / "dask"),
            "worker",
            address,
            "--host",
            "127.0.0.1",
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--local-directory",
            str(tmp_path / "w"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield address
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def test_an_existing_cluster_gives_the_same_outputs(
    local_run: tuple[subprocess.CompletedProcess[str], Path],
    export: Export,
    scheduler_pair: str,
    tmp_path: Path,
) -> None:
    _, local_out = local_run
    out = tmp_path / "cluster"
    done = run_cli(
        str(export.path),
        "--out",
        str(out),
        "--as-of",
        AS_OF,
        "--scheduler",
        scheduler_pair,
        "--workers",
        "1",
        "--min-cell",
        "5",
        "--trial",
        TRIAL,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "on 1 Dask workers" in done.stdout
    for name in ("worklist.csv", "attrition.csv", "bad_lines.csv", "unscreened.csv"):
        assert (out / name).read_text() == (local_out / name).read_text(), name
    assert results(out) == results(local_out)
    with (out / "attrition.csv").open() as f:
        small = [r for r in csv.DictReader(f) if 0 < int(r["excluded_alone"]) < 5]
    html = (out / "summary.html").read_text()
    assert small
    assert "&lt;5" in html
    assert "&lt;5" not in (local_out / "summary.html").read_text()


def test_unreachable_scheduler_exits_2(export: Export, tmp_path: Path) -> None:
    done = run_cli(
        str(export.path),
        "--out",
        str(tmp_path),
        "--scheduler",
        f"tcp://127.0.0.1:{free_port()}",
        DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s",  # Dask's own setting, default 30s
    )
    assert done.returncode == 2
    assert done.stderr.startswith("trial-cds prescreen: error: cannot reach the Dask scheduler")
    assert done.stderr.count("\n") == 1


def test_a_jittered_population_on_a_local_cluster_matches_screen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from distributed import LocalCluster

    bundles = list(population(150, seed=3))
    write_export(tmp_path / "export", [[e["resource"] for e in b["entry"]] for b in bundles])
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        outcome = run_prescreen(
            PrescreenOptions(
                export_dir=tmp_path / "export",
                out_dir=tmp_path / "out",
                as_of=date.fromisoformat(AS_OF),
                scheduler=cluster.scheduler_address,
                trial_ids=(TRIAL,),
                progress=False,
            )
        )
    assert outcome.clean
    assert outcome.patients == 150
    assert outcome.workers == 2
    statuses = {r["patient_id"]: r["status"] for r in worklist(tmp_path / "out")}
    mix = set()
    for bundle in bundles:
        resources = canonical([e["resource"] for e in bundle["entry"]])
        path = tmp_path / "one.json"
        path.write_text(json.dumps({**bundle, "entry": [{"resource": r} for r in resources]}))
        assert (
            main(["screen", str(path), "--as-of", AS_OF, "--format", "json", "--trial", TRIAL]) == 0
        )
        expected = json.loads(capsys.readouterr().out)["trials"][0]["status"]
        assert statuses[patient_id(resources)] == expected
        mix.add(expected)
    assert mix == {"likely_eligible", "possibly_eligible", "not_eligible"}
