"""Benchmark 2: a hook call with no prefetch against the real (Node, Medplum) FHIR server.

Compares the wall time of the hook call with the slowest single FHIR query it needs,
measured side by side in the same run. Queries run concurrently, so the ratio should be
close to 1 (target ≤ 1.2); serial chains would push it towards the sum of all queries.

    .venv/bin/python -m benchmarks.fhir_fallback [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from benchmarks._servers import uvicorn_server
from benchmarks.synth import realistic_patient
from cds_hooks.eligibility import Engine
from cds_hooks.prefetch import fill, prefetch_templates
from cds_hooks.settings import Settings
from fixtures import generate as g
from tests.fhir_server import launcher

PATH = "/cds-services/trial-screening-patient-view"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    persona = realistic_patient("fallback")
    # The same Node server and loader the integration tests use.
    launcher.ensure_installed()
    server = launcher.start()
    fhir = server.base_url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle_path = Path(tmp) / "bundle.json"
            bundle_path.write_bytes(orjson.dumps(persona.bundle("collection")))
            launcher.load_fixtures(server, bundle_path)
        request = g.hook_request(persona, "patient-view", prefetch=False)
        request["fhirServer"] = fhir
        body = orjson.dumps(request)
        engine = Engine.default()
        templates = prefetch_templates(list(engine.trials.values()), engine.terminology)
        # The same page size the service asks for, so both sides read the same pages.
        page = Settings().fhir_page_size
        queries = [fill(t, request["context"]) for t in templates.values()]
        queries = [q if "?" not in q else f"{q}&_count={page}" for q in queries]
        hook_ms: list[float] = []
        slowest_ms: list[float] = []
        total_ms: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                "CDS_DEV_MODE": "1",
                "DATABASE_URL": f"sqlite:///{tmp}/b.sqlite3",
                "CDS_LOG_LEVEL": "WARNING",
                "CDS_FHIR_PAGE_SIZE": "1000",
                "CDS_AS_OF": g.AS_OF.isoformat(),  # the fixtures' screening date
            }
            with (
                uvicorn_server("cds_hooks.app:create_app", env, factory=True) as ours,
                httpx.Client(timeout=60) as client,
            ):
                for _ in range(3):  # warm-up both sides
                    client.post(
                        ours + PATH, content=body, headers={"Content-Type": "application/json"}
                    ).raise_for_status()
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    response = client.post(
                        ours + PATH, content=body, headers={"Content-Type": "application/json"}
                    )
                    hook_ms.append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()
                    assert orjson.loads(response.content)["cards"], "expected a card"
                    single = []
                    for query in queries:
                        start = time.perf_counter()
                        url: str | None = f"{fhir}/{query}"
                        while url:  # a complete query: every page, as the service reads it
                            reply = client.get(url)
                            reply.raise_for_status()
                            links = orjson.loads(reply.content).get("link", [])
                            url = next((x["url"] for x in links if x["relation"] == "next"), None)
                        single.append((time.perf_counter() - start) * 1000)
                    slowest_ms.append(max(single))
                    total_ms.append(sum(single))
    finally:
        server.stop()
    hook, slowest = statistics.median(hook_ms), statistics.median(slowest_ms)
    print(
        f"{len(queries)} FHIR queries per hook call, {args.rounds} rounds, "
        f"{sum(1 for r in persona.resources if r['resourceType'] == 'Observation')} "
        "Observations\n"
    )
    print(f"{'measure':<32} {'median ms':>10}")
    print(f"{'hook call, no prefetch':<32} {hook:>10.1f}")
    print(f"{'slowest single FHIR query':<32} {slowest:>10.1f}")
    print(f"{'all queries one after another':<32} {statistics.median(total_ms):>10.1f}")
    print(f"\nratio hook / slowest query = {hook / slowest:.2f} (target ≤ 1.20)")


if __name__ == "__main__":
    main()
