"""`trial-cds load-fixtures` against the real test FHIR server.

Each test starts its own server (the fixture waits for its LISTENING line), runs the command
to completion and only then reads the server's state and request log: nothing here waits on
a timer. The server records a request's status as it answers, so the log is complete once
the command has its answers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds_hooks.cli import main
from tests.fhir_server.launcher import FhirServer, StartFhirServer, load_fixtures

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PATIENT_UUID = "0b6c7a0e-4c1e-4f3a-9d43-2f1f6a0c9b11"


def trial_cds(argv: list[str]) -> int:
    """Run the CLI in a worker thread: its asyncio.run() must not replace the event loop
    pytest-asyncio keeps for this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(main, argv).result()


def tiny_bundle(prefix: str, labs: int = 5) -> dict[str, Any]:
    """A collection Bundle as an EHR export looks: urn:uuid fullUrls and references, the
    Patient without an id of its own."""
    patient_url = f"urn:uuid:{PATIENT_UUID}-{prefix}"
    entries: list[dict[str, Any]] = [
        {"fullUrl": patient_url, "resource": {"resourceType": "Patient", "gender": "female"}}
    ]
    for i in range(labs):
        entries.append(
            {
                "fullUrl": f"urn:uuid:{prefix}-obs-{i}",
                "resource": {
                    "resourceType": "Observation",
                    "id": f"{prefix}-obs-{i}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                    "subject": {"reference": patient_url},
                    "effectiveDateTime": f"2025-01-0{i + 1}",
                    "valueQuantity": {"value": 12.5 + i, "unit": "g/dL"},
                },
            }
        )
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def write(directory: Path, name: str, content: Any) -> Path:
    path = directory / name / "bundle.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def resources(server: FhirServer, path: str, **params: str) -> list[dict[str, Any]]:
    """Every resource a search finds, following next links."""
    found: list[dict[str, Any]] = []
    url: str | None = f"{server.base_url}/{path}"
    query: dict[str, str] | None = {**params, "_count": "50"}
    while url:
        page = httpx.get(url, params=query, headers=server.auth_headers, timeout=30).json()
        found += [e["resource"] for e in page.get("entry", [])]
        url = next((ln["url"] for ln in page.get("link", []) if ln["relation"] == "next"), None)
        query = None
    return found


def posts(server: FhirServer) -> list[dict[str, Any]]:
    return [r for r in server.requests() if r["method"] == "POST"]


def test_loads_a_bundle_as_put_transaction_and_reloads_idempotently(
    tmp_path: Path, start_fhir_server: StartFhirServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_fhir_server()
    path = write(tmp_path, "tiny", tiny_bundle("ld1"))
    patient_id = f"{PATIENT_UUID}-ld1"

    assert trial_cds(["load-fixtures", "--fhir-server", server.base_url, str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 6 resources (1 Patient, 5 Observation)" in out

    patient = httpx.get(f"{server.base_url}/Patient/{patient_id}", timeout=10)
    assert patient.status_code == 200  # id taken from the urn:uuid fullUrl
    labs = resources(server, "Observation", subject=f"Patient/{patient_id}")
    assert sorted(o["id"] for o in labs) == [f"ld1-obs-{i}" for i in range(5)]
    # urn:uuid references were rewritten to the ids the server stores.
    assert {o["subject"]["reference"] for o in labs} == {f"Patient/{patient_id}"}

    assert trial_cds(["load-fixtures", "--fhir-server", server.base_url, str(path)]) == 0
    assert len(resources(server, "Observation", patient=patient_id)) == 5
    assert len(resources(server, "Patient")) == 1


def test_directory_of_bundles_and_chunked_transactions(
    tmp_path: Path, start_fhir_server: StartFhirServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_fhir_server()
    write(tmp_path, "a", tiny_bundle("ld2a", labs=4))
    write(tmp_path, "b", tiny_bundle("ld2b", labs=1))
    argv = ["load-fixtures", "--fhir-server", server.base_url, "--max-entries", "2"]
    assert trial_cds([*argv, str(tmp_path)]) == 0
    # 5 resources in chunks of 2 → 3 transactions; 2 resources → 1.
    assert len(posts(server)) == 4
    assert len(resources(server, "Observation")) == 5
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("loaded ") for line in out) == 2
    assert out[-1].startswith("2 of 2 bundles (7 resources) loaded")


def test_token_is_sent_and_never_printed(
    tmp_path: Path,
    start_fhir_server: StartFhirServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_fhir_server(token="s3cret-token-value")
    path = write(tmp_path, "tiny", tiny_bundle("ld3"))

    code = trial_cds(
        ["load-fixtures", "--fhir-server", server.base_url, "--token", "nope", str(path)]
    )
    assert code == 1
    wrong = capsys.readouterr()
    assert "refused the credentials (401)" in wrong.err

    monkeypatch.setenv("TRIAL_CDS_FHIR_TOKEN", "s3cret-token-value")
    assert trial_cds(["load-fixtures", "--fhir-server", server.base_url, str(path)]) == 0
    right = capsys.readouterr()
    assert len(resources(server, "Observation")) == 5
    for text in (wrong.out, wrong.err, right.out, right.err):
        assert "s3cret" not in text
        assert "nope" not in text


def test_launcher_helper_passes_the_servers_token(
    tmp_path: Path, start_fhir_server: StartFhirServer
) -> None:
    server = start_fhir_server(token="helper-token")
    out = load_fixtures(server, write(tmp_path, "tiny", tiny_bundle("ld7")))
    assert "1 of 1 bundles (6 resources) loaded" in out
    assert "helper-token" not in out
    assert len(resources(server, "Observation")) == 5


def test_server_down_exits_1(
    tmp_path: Path, start_fhir_server: StartFhirServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_fhir_server()
    server.stop()  # waits for its exit: its port is now closed
    path = write(tmp_path, "tiny", tiny_bundle("ld4"))
    assert trial_cds(["load-fixtures", "--fhir-server", server.base_url, str(path)]) == 1
    assert "cannot reach the FHIR server" in capsys.readouterr().err


def _invalid_value(bundle: dict[str, Any]) -> None:
    bundle["entry"][2]["resource"]["valueQuantity"]["value"] = "twelve"


def _duplicate(bundle: dict[str, Any]) -> None:
    bundle["entry"].append(bundle["entry"][1])


def _dangling(bundle: dict[str, Any]) -> None:
    bundle["entry"][1]["resource"]["subject"]["reference"] = "urn:uuid:nobody"


def _unknown_type(bundle: dict[str, Any]) -> None:
    bundle["entry"][1]["resource"]["resourceType"] = "Observaton"


def _no_id(bundle: dict[str, Any]) -> None:
    del bundle["entry"][1]["resource"]["id"]
    del bundle["entry"][1]["fullUrl"]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_invalid_value, "Observation/ld5-obs-1: valueQuantity.value"),
        (_duplicate, "Observation/ld5-obs-0 appears twice"),
        (_dangling, "reference urn:uuid:nobody matches no entry"),
        (_unknown_type, "unknown resourceType 'Observaton'"),
        (_no_id, "entry[1] Observation: id None is missing"),
    ],
)
def test_bad_resources_are_reported_and_nothing_is_sent(
    tmp_path: Path,
    start_fhir_server: StartFhirServer,
    capsys: pytest.CaptureFixture[str],
    spoil: Any,
    message: str,
) -> None:
    server = start_fhir_server()
    good = write(tmp_path, "good", tiny_bundle("ld5ok"))
    bundle = tiny_bundle("ld5")
    spoil(bundle)
    bad = write(tmp_path, "bad", bundle)
    assert trial_cds(["load-fixtures", "--fhir-server", server.base_url, str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: " in err
    assert message in err
    assert "nothing was loaded" in err
    assert posts(server) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ({"resourceType": "Patient", "id": "p"}, "not a FHIR Bundle"),
        ({"resourceType": "Bundle", "type": "collection"}, "no entries"),
    ],
)
def test_unreadable_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    path = write(tmp_path, "x", content)
    # No server needed: input is checked before any connection is made.
    assert trial_cds(["load-fixtures", "--fhir-server", "http://127.0.0.1:9/fhir", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_same_id_with_different_content_in_two_files_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path, "a", tiny_bundle("ld6"))
    changed = tiny_bundle("ld6")
    changed["entry"][1]["resource"]["status"] = "amended"
    second = write(tmp_path, "b", changed)
    same = write(tmp_path, "c", tiny_bundle("ld6"))
    argv = ["load-fixtures", "--fhir-server", "http://127.0.0.1:9/fhir"]
    assert trial_cds([*argv, str(first), str(second), str(same)]) == 2
    err = capsys.readouterr().err
    assert "Observation/ld6-obs-0 differs from the one in" in err
    assert f"{same}:" not in err  # identical duplicates are fine


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/fhir", "127.0.0.1:8080/fhir", "http:///fhir"])
def test_bad_server_url_exits_2(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert trial_cds(["load-fixtures", "--fhir-server", url]) == 2
    assert "must be an http(s) URL" in capsys.readouterr().err


def test_every_repository_fixture_is_on_the_loaded_server(loaded_fhir_server: FhirServer) -> None:
    bundles = sorted((REPO / "fixtures" / "patients").glob("*/bundle.json"))
    assert bundles, "no fixture patients found"
    for path in bundles:
        wanted: dict[str, set[str]] = {}
        for entry in json.loads(path.read_text())["entry"]:
            resource = entry["resource"]
            wanted.setdefault(resource["resourceType"], set()).add(resource["id"])
        for kind, ids in wanted.items():
            found = resources(loaded_fhir_server, kind, _id=",".join(sorted(ids)))
            assert {r["id"] for r in found} == ids, (path, kind)
