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


def realistic_patient(pid: str = "bench", observations: int = 200) -> g.Persona:
    """The likely-eligible persona plus a two-year lab history: ~`observations` in all."""
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
    return persona


def hook_body(persona: g.Persona) -> dict[str, Any]:
    return g.hook_request(persona, "patient-view")


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
