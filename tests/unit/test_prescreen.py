"""The pre-screen's parts without a cluster: reading, partitioning, screening a partition,
outputs and min-cell masking. (tests/integration/test_prescreen.py runs them on Dask.)"""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cds_hooks.cli import main
from cds_hooks.eligibility import Engine
from cds_hooks.prescreen import outputs
from cds_hooks.prescreen.export import (
    BadLine,
    ExportError,
    ExportFile,
    bucket_of,
    find_export_files,
    patient_of,
    read_lines,
)
from cds_hooks.prescreen.partition import SHARED_DIR, partition_dir, partition_file
from cds_hooks.prescreen.screening import (
    WORKLIST_COLUMNS,
    ScreenJob,
    TrialTally,
    WorklistRow,
    group_partition,
    read_worklist_part,
    screen_partition,
    tally,
    write_worklist_part,
)
from cds_hooks.trials import TrialDefinition, load_trials
from fhir_mappings.bundle import resources_from_bundle
from fhir_mappings.record import build_record

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = ROOT / "fixtures" / "patients"
AS_OF = date(2026, 3, 2)
SCRT = "scrt-capeox-serplulimab-rectal"


def scrt_trial() -> TrialDefinition:
    return next(t for t in load_trials() if t.id == SCRT)


def persona(name: str) -> list[dict[str, Any]]:
    bundle = json.loads((PATIENTS / name / "bundle.json").read_text())
    return resources_from_bundle(bundle)


def export_file(path: Path, root: Path) -> ExportFile:
    return ExportFile(path, path.relative_to(root).as_posix(), path.stat().st_size)


# --- reading ---------------------------------------------------------------------------


def test_lines_are_numbered_in_the_decompressed_text_and_blank_lines_skipped(
    tmp_path: Path,
) -> None:
    plain = tmp_path / "a.ndjson"
    plain.write_bytes(b'{"a": 1}\n\n  \n{"b": 2}\n')
    packed = tmp_path / "b.ndjson.gz"
    packed.write_bytes(gzip.compress(b'{"c": 3}\n\n{"d": 4}'))
    assert list(read_lines(export_file(plain, tmp_path))) == [(1, b'{"a": 1}'), (4, b'{"b": 2}')]
    assert list(read_lines(export_file(packed, tmp_path))) == [(1, b'{"c": 3}'), (3, b'{"d": 4}')]


def test_a_byte_order_mark_and_crlf_line_ends_cost_no_line(tmp_path: Path) -> None:
    windows = tmp_path / "w.ndjson"
    windows.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\r\n\r\n')
    packed = tmp_path / "w.ndjson.gz"
    packed.write_bytes(gzip.compress(b'\xef\xbb\xbf{"c": 3}\r\n'))
    assert list(read_lines(export_file(windows, tmp_path))) == [(1, b'{"a": 1}'), (2, b'{"b": 2}')]
    assert list(read_lines(export_file(packed, tmp_path))) == [(1, b'{"c": 3}')]
    # Only a mark opening the file is dropped: one later is a bad line, not a guess.
    later = tmp_path / "later.ndjson"
    later.write_bytes(b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n')
    assert list(read_lines(export_file(later, tmp_path)))[1] == (2, b'\xef\xbb\xbf{"b": 2}')


def test_a_truncated_gzip_ends_with_a_bad_line_where_it_broke(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(5000)))
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(data[: len(data) // 2])
    read = list(read_lines(export_file(path, tmp_path)))
    number, last = read[-1]
    assert isinstance(last, BadLine)
    assert last.file == "cut.ndjson.gz"
    assert last.line == number == len(read)  # the line after the last one read
    assert all(isinstance(line, bytes) for _, line in read[:-1])


def test_not_gzip_at_all_is_one_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson.gz"
    path.write_bytes(b'{"resourceType": "Patient"}\n')
    ((number, bad),) = list(read_lines(export_file(path, tmp_path)))
    assert number == 1
    assert isinstance(bad, BadLine)
    assert "cannot read further" in bad.reason


def test_export_files_by_suffix_and_unreadable_exports(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such directory"):
        find_export_files(tmp_path / "missing")
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ExportError, match="no NDJSON files"):
        find_export_files(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Observation.ndjson.gz").write_bytes(gzip.compress(b""))
    (tmp_path / "1.ndjson").write_text("")
    files, ignored = find_export_files(tmp_path)
    assert [f.name for f in files] == ["1.ndjson", "sub/Observation.ndjson.gz"]
    assert [f.gzipped for f in files] == [False, True]
    assert ignored == ["manifest.json"]


@pytest.mark.parametrize(
    ("resource", "patient"),
    [
        ({"resourceType": "Patient", "id": "p1"}, "p1"),
        ({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}, "p1"),
        (
            {
                "resourceType": "Observation",
                "subject": {"reference": "https://ehr.example/fhir/Patient/p1/_history/3"},
            },
            "p1",
        ),
        ({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p2"}}, "p2"),
        ({"resourceType": "Observation", "subject": {"reference": "Group/g1"}}, ""),
        ({"resourceType": "Observation", "subject": {"display": "someone"}}, None),
        ({"resourceType": "Practitioner", "id": "dr"}, None),
    ],
)
def test_the_patient_a_resource_belongs_to(resource: dict[str, Any], patient: str | None) -> None:
    assert patient_of(resource) == patient


def test_partition_of_a_patient_is_the_same_in_every_process() -> None:
    # Python's own str hash is salted per process; workers must agree on partitions.
    ids = [f"patient-{i}" for i in range(50)]
    here = [bucket_of(i, 7) for i in ids]
    script = (
        "from cds_hooks.prescreen.export import bucket_of;"
        f"print([bucket_of(i, 7) for i in {ids!r}])"
    )
    for seed in ("1", "2"):
        there = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            cwd=ROOT,
        ).stdout
        assert json.loads(there) == here
    assert len(set(here)) > 3  # actually spread over partitions


# --- partitioning ----------------------------------------------------------------------


def test_partitioning_spills_each_line_to_its_patients_partition(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    lines = [
        {"resourceType": "Patient", "id": "p1"},  # 1
        {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/p1"}},
        "not json",  # 3
        {"resourceType": "Observation", "id": "o2"},  # 4: no subject
        {"resourceType": "Practitioner", "id": "dr"},  # 5: no patient's data
        {"resourceType": "Medication", "id": "m1"},  # 6: shared
        [1, 2],  # 7
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Group/g"}},  # 8
        {"resourceType": "Patient", "id": "p2"},  # 9
        {"id": "x"},  # 10
        {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/a b"}},
    ]
    path = export / "mixed.ndjson"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    work = tmp_path / "work"
    report = partition_file(export_file(path, export), 3, work, buckets=4)

    assert report.lines == 11
    assert report.by_type == Counter({"Patient": 2, "Observation": 1, "Medication": 1})
    assert report.unattached == Counter({"Practitioner": 1})
    assert report.bad == 6
    assert [(b.file, b.line) for b in report.bad_sample] == [
        ("mixed.ndjson", n) for n in (3, 4, 7, 8, 10, 11)
    ]
    assert "without a subject/patient reference" in report.bad_sample[1].reason
    assert "not a Patient reference" in report.bad_sample[3].reason
    assert "not a FHIR id" in report.bad_sample[5].reason
    assert report.bad_file is not None
    with Path(report.bad_file).open() as bad:
        assert [row[:2] for row in csv.reader(bad)] == [
            ["mixed.ndjson", str(n)] for n in (3, 4, 7, 8, 10, 11)
        ]

    grouped = group_partition(work, bucket_of("p1", 4))
    assert [json.loads(b)["id"] for b in grouped["p1"]] == ["p1", "o1"]
    assert (partition_dir(work, bucket_of("p1", 4)) / "f00003.tsv").exists()
    assert "p2" in group_partition(work, bucket_of("p2", 4))
    shared = (work / SHARED_DIR / "f00003.tsv").read_text().splitlines()
    assert [json.loads(s)["id"] for s in shared] == ["m1"]


# --- screening a partition -------------------------------------------------------------


def write_partition(work: Path, resources: list[dict[str, Any]], patient: str) -> None:
    directory = partition_dir(work, 0)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "f00000.tsv").open("ab") as out:
        for r in resources:
            out.write(patient.encode() + b"\t" + json.dumps(r).encode() + b"\n")


def test_a_partition_is_screened_like_one_bundle(tmp_path: Path) -> None:
    trials = (scrt_trial(),)
    work = tmp_path / "work"
    names = ["likely_eligible", "age_17", "poor_reserve", "data_quality_unknowns"]
    for name in names:
        resources = persona(name)
        pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
        write_partition(work, list(reversed(resources)), pid)  # export order is arbitrary
    # Resources of a patient whose Patient resource is missing: reported, not dropped.
    write_partition(
        work,
        [{"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/ghost"}}],
        "ghost",
    )
    job = ScreenJob(trials, tuple(t.id for t in trials), AS_OF, work, tmp_path / "results")
    report = screen_partition(job, 0)

    assert report.patients == 5
    assert report.unscreened == [("ghost", "patient data unusable: no Patient resource")]
    engine = Engine.default()
    results = [
        json.loads(line)
        for line in (tmp_path / "results" / "part-00000.ndjson").read_text().splitlines()
    ]
    by_patient = {r["patient"]: r for r in results}
    for name in names:
        expected = engine.screen(build_record(persona(name)), AS_OF, [SCRT]).to_json()
        got = by_patient[expected["patient"]]
        assert got["trials"][0]["status"] == expected["trials"][0]["status"]
        # Same results; only the order of same-day evidence may follow the input order.
        for mine, theirs in zip(
            got["trials"][0]["criteria"], expected["trials"][0]["criteria"], strict=True
        ):
            assert {**mine, "evidence": None} == {**theirs, "evidence": None}
            assert sorted(map(json.dumps, mine["evidence"])) == sorted(
                map(json.dumps, theirs["evidence"])
            )
    assert report.worklist is not None
    assert report.worklist_rows == 4
    rows = {r[0]: r for r in read_worklist_part(report.worklist)}
    assert rows["age-17"][3] == "not_eligible"
    assert rows["age-17"][7] == "Age 18–75 years"
    assert rows["likely-eligible"][3] == "likely_eligible"
    assert rows["likely-eligible"][6] == date(2026, 3, 18)  # from deadlines.screen_by
    unknown_titles = rows["data-quality"][5].split(" | ")
    assert rows["data-quality"][4] == len(unknown_titles) >= 5


def test_excluded_alone_counts_only_patients_no_other_criterion_excludes() -> None:
    trial = scrt_trial()
    engine = Engine.default()
    into = TrialTally()
    for name in ("age_17", "poor_reserve", "likely_eligible"):
        tally(trial, engine.screen(build_record(persona(name)), AS_OF, [SCRT]).trials[0], into)
    assert into.statuses == Counter({"not_eligible": 2, "likely_eligible": 1})
    assert into.criteria["age"].not_met == 1
    assert into.criteria["age"].excluded_alone == 1  # age_17 fails on age only
    assert into.criteria["anc"].excluded == 1  # poor_reserve fails on five
    assert into.criteria["anc"].excluded_alone == 0
    assert into.first_excluded_by == Counter({"age": 1, "ecog": 1})
    steps = outputs.funnel(trial, into, screened=3)
    assert steps[0] == outputs.FunnelStep("screened", 3)
    remaining = [s.remaining for s in steps[1:-1]]
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] == 1  # only the likely-eligible patient stays in the running
    assert steps[-1] == outputs.FunnelStep("likely eligible", 1)


# --- outputs ---------------------------------------------------------------------------


def test_masking() -> None:
    assert [outputs.masked(n, 10) for n in (0, 1, 9, 10, 11)] == ["0", "<10", "<10", "10", "11"]
    assert outputs.masked(3, None) == "3"


def test_worklist_is_sorted_likely_first_and_keeps_dates_as_dates(tmp_path: Path) -> None:
    rows = [
        ("a", "t", "NCT1", "not_eligible", 0, "", None, "Age"),
        ("b", "t", "NCT1", "possibly_eligible", 2, "X | Y", date(2026, 3, 5), ""),
        ("c", "t", "NCT1", "likely_eligible", 1, "Z", date(2026, 3, 20), ""),
        ("d", "t", "NCT1", "possibly_eligible", 1, "X", None, ""),
        ("e", "t", "NCT1", "likely_eligible", 1, "Z", date(2026, 3, 10), ""),
    ]
    assert outputs.write_worklist([outputs.sort_worklist(rows)], tmp_path) == 5
    with (tmp_path / "worklist.csv").open() as f:
        read = list(csv.DictReader(f))
    assert [r["patient_id"] for r in read] == ["e", "c", "d", "b", "a"]
    assert read[0]["screen_by"] == "2026-03-10"
    assert read[2]["screen_by"] == ""
    table = pq.read_table(tmp_path / "worklist.parquet")
    assert table.column_names == list(WORKLIST_COLUMNS)
    assert str(table.schema.field("screen_by").type) == "date32[day]"
    assert table.column("patient_id").to_pylist() == ["e", "c", "d", "b", "a"]
    assert table.column("unknown").to_pylist() == [1, 1, 1, 2, 0]


def test_worklist_parts_are_merged_in_order_as_they_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each partition writes its rows sorted; the merge streams them (Parquet in batches,
    # here of 2 rows) into one worklist in the order one sort of every row gives.
    monkeypatch.setattr(outputs, "_PARQUET_BATCH", 2)
    statuses = ("likely_eligible", "possibly_eligible", "not_eligible")
    rows: list[WorklistRow] = [
        (f"p{i}", f"t{i % 2}", "NCT1", statuses[i % 3], i % 4, "", date(2026, 3, 1 + i % 5), "")
        for i in range(11)
    ]
    rows.append(("q", "t0", "NCT1", "possibly_eligible", 1, "X", None, ""))
    paths = []
    for part, chunk in enumerate((rows[:5], rows[5:], [])):
        path = tmp_path / f"part-{part}.ndjson"
        assert write_worklist_part(reversed(chunk), path) == len(chunk)
        paths.append(path)
    assert list(read_worklist_part(paths[1])) == outputs.sort_worklist(rows[5:])
    written = outputs.write_worklist([read_worklist_part(p) for p in paths], tmp_path)
    expected = [r[0] for r in outputs.sort_worklist(rows)]
    assert written == len(rows)
    with (tmp_path / "worklist.csv").open(newline="") as f:
        assert [r["patient_id"] for r in csv.DictReader(f)] == expected
    table = pq.read_table(tmp_path / "worklist.parquet")
    assert table.column("patient_id").to_pylist() == expected
    assert pq.ParquetFile(tmp_path / "worklist.parquet").num_row_groups == 6
    by_id = dict(zip(expected, table.column("screen_by").to_pylist(), strict=True))
    assert (by_id["q"], by_id["p3"]) == (None, date(2026, 3, 4))


def test_an_empty_worklist_still_has_its_columns(tmp_path: Path) -> None:
    assert outputs.write_worklist([], tmp_path) == 0
    assert (tmp_path / "worklist.csv").read_text() == ",".join(WORKLIST_COLUMNS) + "\n"
    table = pq.read_table(tmp_path / "worklist.parquet")
    assert (table.num_rows, table.column_names) == (0, list(WORKLIST_COLUMNS))


def summary_for(min_cell: int | None) -> str:
    trial = scrt_trial()
    into = TrialTally()
    into.statuses.update({"likely_eligible": 3, "possibly_eligible": 12, "not_eligible": 40})
    into.first_excluded_by.update({"age": 4, "ecog": 36})
    attrition = outputs.attrition_rows([trial], {trial.id: into})
    attrition[1]["met"], attrition[1]["not_met"] = 51, 4
    steps = outputs.funnel(trial, into, 55)
    return outputs.render_summary(
        outputs.SummaryInput(
            as_of=AS_OF,
            trials=[trial],
            tallies={trial.id: into},
            attrition=attrition,
            charts={trial.id: outputs.funnel_png(trial, steps, min_cell)},
            patients=55,
            unscreened=1,
            files=3,
            lines=700,
            bad_lines=2,
            by_type={"Observation": 600},
            unattached={"Practitioner": 7},
            min_cell=min_cell,
        )
    )


def cells(html: str) -> list[str]:
    """The count cells (the file count, not a count of people, is class="meta")."""
    return [part.split("</td>")[0] for part in html.split("<td>")[1:]]


def test_summary_masks_small_counts_when_asked() -> None:
    exact = cells(summary_for(None))
    shared = cells(summary_for(10))
    assert len(exact) == len(shared)
    assert {"3", "4", "2", "1", "7"} <= set(exact)
    assert "&lt;10" not in exact
    for plain, masked in zip(exact, shared, strict=True):
        if plain.isdigit() and 0 < int(plain) < 10:
            assert masked == "&lt;10"
        else:
            assert masked == plain
    html = summary_for(10)
    assert "data:image/png;base64," in html
    assert "NCT06850103" in html


def test_funnel_chart_is_a_png() -> None:
    trial = scrt_trial()
    png = outputs.funnel_png(trial, [outputs.FunnelStep("screened", 5)], 10)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


# --- the command's input errors (before any cluster starts) ----------------------------


def test_unreadable_export_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["prescreen", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("trial-cds prescreen: error: ")
    assert "no such directory" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prescreen", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert "no NDJSON files" in capsys.readouterr().err


def test_unknown_trial_and_bad_date_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "p"}\n')
    out = str(tmp_path / "out")
    assert main(["prescreen", str(export), "--out", out, "--trial", "NCT0"]) == 2
    assert "unknown trial 'NCT0'" in capsys.readouterr().err
    assert main(["prescreen", str(export), "--out", out, "--as-of", "2026-13-01"]) == 2
    assert "is not a date" in capsys.readouterr().err
    # Outputs inside the export would be read back as export files by the next run.
    assert main(["prescreen", str(export), "--out", str(export / "out")]) == 2
    assert "must not be inside the export" in capsys.readouterr().err


def test_a_shared_medication_reaches_the_orders_that_reference_it(tmp_path: Path) -> None:
    """Medication resources belong to no patient in an export: an order that references
    one must still be read with its code (here apixaban, an anticoagulant)."""
    resources = persona("active_apixaban")
    medication = {"resourceType": "Medication", "id": "apixaban-5mg"}
    for r in resources:
        if r["resourceType"] == "MedicationRequest" and r["id"] == "anticoagulated-med22":
            medication["code"] = r.pop("medicationCodeableConcept")
            r["medicationReference"] = {"reference": "Medication/apixaban-5mg"}
    export = tmp_path / "export"
    export.mkdir()
    (export / "data.ndjson").write_text(
        "\n".join(json.dumps(r) for r in [medication, *resources]) + "\n"
    )
    work = tmp_path / "work"
    (file,), _ = find_export_files(export)
    assert partition_file(file, 0, work, buckets=1).bad == 0
    trials = (scrt_trial(),)
    job = ScreenJob(trials, tuple(t.id for t in trials), AS_OF, work, tmp_path / "results")
    screen_partition(job, 0)
    (line,) = (tmp_path / "results" / "part-00000.ndjson").read_text().splitlines()
    got = json.loads(line)["trials"][0]
    expected = Engine.default().screen(build_record(persona("active_apixaban")), AS_OF, [SCRT])
    by_id = {c["id"]: c for c in got["criteria"]}
    for criterion in expected.trials[0].criteria:
        assert by_id[criterion.id]["status"] == criterion.status, criterion.id
    assert got["status"] == expected.trials[0].status
    # Without the shared Medication the order's drug is unknown, and the result differs.
    (work / SHARED_DIR / "f00000.tsv").unlink()
    screen_partition(ScreenJob(trials, job.trial_ids, AS_OF, work, tmp_path / "results2"), 0)
    (line,) = (tmp_path / "results2" / "part-00000.ndjson").read_text().splitlines()
    assert json.loads(line) != json.loads((tmp_path / "results" / "part-00000.ndjson").read_text())
