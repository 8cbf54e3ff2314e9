"""Synthetic patients for benchmarks, derived from the fixture personas.

`realistic_patient` builds one patient with ~200 Observations over two years (the size of a
real oncology chart's lab history) on top of the likely-eligible persona. `population`
yields N varied patients: every persona in turn, with fresh ids and lab values jittered so
the engine sees a realistic mix of met / not_met / unknown.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fixtures import generate as g

PATIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "patients"
LAB_SERIES = [g.ANC, g.PLT, g.HB, g.TBIL, g.ALT, g.AST, g.ALB, g.CREAT, g.INR, g.APTT]
LAB_UNITS = {
    "751-8": ("10*9/L", 3.0),
    "777-3": ("10*9/L", 220),
    "718-7": ("g/dL", 12.5),
    "1975-2": ("mg/dL", 0.8),
    "1742-6": ("U/L", 30),
    "1920-8": ("U/L", 28),
    "1751-7": ("g/L", 40),
    "2160-0": ("mg/dL", 0.9),
    "6301-6": ("{INR}", 1.0),
    "14979-9": ("s", 30),
}


# Results a real chart holds that no trial criterion reads: chemistry, lipids, vital signs
# (LOINC, UCUM unit, typical value).
UNRELATED_SERIES = [
    ("2951-2", "mmol/L", 140), ("2823-3", "mmol/L", 4.2), ("2075-0", "mmol/L", 102),
    ("2028-9", "mmol/L", 25), ("2345-7", "mg/dL", 95), ("3094-0", "mg/dL", 14),
    ("17861-6", "mg/dL", 9.5), ("2093-3", "mg/dL", 190), ("2571-8", "mg/dL", 120),
    ("2085-9", "mg/dL", 55), ("13457-7", "mg/dL", 110), ("8867-4", "/min", 72),
    ("9279-1", "/min", 16), ("59408-5", "%", 98), ("8302-2", "cm", 172),
    ("39156-5", "kg/m2", 24),
]  # fmt: skip


def realistic_patient(pid: str = "bench", observations: int = 200, unrelated: int = 0) -> g.Persona:
    """The likely-eligible persona plus a two-year lab history: ~`observations` trial labs
    in all, and `unrelated` more results no criterion reads (a long real chart)."""
    persona = g.base(pid)
    rng = random.Random(pid)
    extra = observations - sum(1 for r in persona.resources if r["resourceType"] == "Observation")
    for i in range(max(extra, 0)):
        code = LAB_SERIES[i % len(LAB_SERIES)]
        unit, typical = LAB_UNITS[code[1]]
        days = 15 + (i * 730) // max(extra, 1)  # spread over two years, all older than the base
        lab = persona.lab(code, round(typical * rng.uniform(0.8, 1.2), 2), unit, days_before=days)
        # History entries as compact as EHR exports usually are: codes without display text.
        lab["code"] = {"coding": [{"system": code[0], "code": code[1]}]}
        lab["valueQuantity"].pop("unit", None)
    for i in range(unrelated):
        loinc, unit, typical = UNRELATED_SERIES[i % len(UNRELATED_SERIES)]
        days = (i * 730) // max(unrelated, 1)
        lab = persona.lab(
            ("http://loinc.org", loinc, loinc),
            round(typical * rng.uniform(0.9, 1.1), 1),
            unit,
            days_before=days,
        )
        lab["code"] = {"coding": [{"system": "http://loinc.org", "code": loinc}]}
    return persona


def hook_body(persona: g.Persona, unrelated_in_prefetch: bool = False) -> dict[str, Any]:
    """The patient-view request with every prefetch key filled. With
    `unrelated_in_prefetch`, the Observation prefetch also carries the results no
    criterion asks for, as an EHR does that answers the prefetch with the whole lab
    history instead of the codes the template names."""
    body = g.hook_request(persona, "patient-view")
    if unrelated_in_prefetch:
        unrelated = {code for code, _, _ in UNRELATED_SERIES}
        extra = [
            r
            for r in persona.resources
            if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] in unrelated
        ]
        key = next(k for k in body["prefetch"] if k.lower().startswith("observation"))
        body["prefetch"][key]["entry"].extend(
            {"resource": r, "search": {"mode": "match"}} for r in extra
        )
    return body


def _jitter(resource: dict[str, Any], rng: random.Random) -> None:
    quantity = resource.get("valueQuantity")
    if isinstance(quantity, dict) and isinstance(quantity.get("value"), int | float):
        quantity["value"] = round(quantity["value"] * rng.uniform(0.6, 1.4), 2)


def population(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`n` patient Bundles, cycling through the fixture personas with varied values."""
    rng = random.Random(seed)
    bundles = [
        json.loads((p / "bundle.json").read_text())
        for p in sorted(PATIENTS.iterdir())
        if (p / "bundle.json").exists()
    ]
    for i in range(n):
        bundle = copy.deepcopy(bundles[i % len(bundles)])
        pid = f"synth-{i}"
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Patient":
                resource["id"] = pid
            else:
                resource["id"] = f"{pid}-{resource['id']}"
                for key in ("subject", "patient"):
                    if key in resource:
                        resource[key] = {"reference": f"Patient/{pid}"}
                _jitter(resource, rng)
        yield bundle
