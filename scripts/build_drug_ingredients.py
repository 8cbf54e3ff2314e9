#!/usr/bin/env python3
"""Regenerate fhir_mappings/terminology/drug_ingredients.json: product → ingredient map.

EHRs code orders by what is dispensed (an RxNorm clinical drug "apixaban 5 MG Oral
Tablet", a branded drug, a brand, an ATC code), while trial code sets list ingredients.
This script builds the map for every ingredient the medication code sets name:

  1. ingredients: every RxNorm code of `medications.json` whose display is an ingredient
     (term type IN), with the code set that names it;
  2. products: RxNav `GET /REST/rxcui/{rxcui}/related.json?tty=SCD+SBD+BN+GPCK+BPCK`
     (NLM RxNorm API, https://lhncbc.nlm.nih.gov/RxNav/APIs/RxNormAPIs.html): clinical
     drugs, branded drugs, packs and brand names containing the ingredient;
  3. ATC: RxNav `GET /REST/rxclass/class/byRxcui.json?rxcui={rxcui}&relaSource=ATC`.

Usage:
  scripts/build_drug_ingredients.py            # query RxNav (network), write the file
  scripts/build_drug_ingredients.py --seed     # no network: keep only the products already
                                               # attested in the code sets and the brand
                                               # names table below (what is packaged when
                                               # RxNav cannot be reached)
The output says which mode produced it (`_meta.generated_by`).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TERMINOLOGY = ROOT / "fhir_mappings" / "terminology"
OUTPUT = TERMINOLOGY / "drug_ingredients.json"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
RXNAV = "https://rxnav.nlm.nih.gov/REST"
# Medication code sets whose ingredients are mapped (every class a trial names), and the
# files that hold them.
CODE_SETS = (
    "anticoagulants",
    "anticoagulant_therapy",
    "treatment_capecitabine",
    "treatment_oxaliplatin",
    "immune_checkpoint_inhibitors",
    "antineoplastic_agents",
    "immunosuppressants",
)
CODE_SET_FILES = ("medications.json", "trial_criteria.json")
# Brand names used when RxNav (term type BN) cannot be queried. Source: the brand names of
# the products' US prescribing information and EU SmPCs; text matching only, no codes.
SEED_BRANDS = {
    "warfarin": ["Coumadin", "Jantoven", "Marevan"],
    "rivaroxaban": ["Xarelto"],
    "apixaban": ["Eliquis"],
    "enoxaparin": ["Lovenox", "Clexane"],
    "edoxaban": ["Savaysa", "Lixiana"],
    "dabigatran": ["Pradaxa"],
    "dabigatran etexilate": ["Pradaxa"],
    "clopidogrel": ["Plavix", "Iscover"],
    "ticagrelor": ["Brilinta", "Brilique"],
    "prasugrel": ["Effient", "Efient"],
    "capecitabine": ["Xeloda"],
    "oxaliplatin": ["Eloxatin"],
    "nivolumab": ["Opdivo"],
    "pembrolizumab": ["Keytruda"],
    "ipilimumab": ["Yervoy"],
    "atezolizumab": ["Tecentriq"],
    "durvalumab": ["Imfinzi"],
    "fluorouracil": ["5-fluorouracil", "Adrucil"],
    "irinotecan": ["Camptosar", "Campto"],
    "bevacizumab": ["Avastin", "Mvasi", "Zirabev"],
    "methotrexate": ["Trexall", "Otrexup"],
    "azathioprine": ["Imuran"],
    "tacrolimus": ["Prograf", "Advagraf"],
    "cyclosporine": ["ciclosporin", "Sandimmune", "Neoral"],
    "mycophenolate mofetil": ["CellCept"],
    "avelumab": ["Bavencio"],
    "cemiplimab": ["Libtayo"],
}
# PD-1 / PD-L1 antibodies approved after the code sets' sources were written, or outside the
# US and EU (several trials here recruit in China, where sintilimab, camrelizumab,
# tislelizumab, toripalimab and serplulimab are standard): no ingredient code is in hand, so
# each maps to its ATC level-4 class (L01FF, PD-1/PD-L1 inhibitors). An order whose code we
# do not know but whose text names one is then "may be <drug>", never "none given".
# Source: the drugs' prescribing information / SmPCs (brand names) and the WHO ATC
# structure (L01FF); not fetched.
SEED_CLASS_MEMBERS = {
    "immune_checkpoint_inhibitors": (
        "L01FF",
        {
            "dostarlimab": ["Jemperli"],
            "retifanlimab": ["Zynyz"],
            "toripalimab": ["Loqtorzi"],
            "tislelizumab": ["Tevimbra"],
            "serplulimab": ["Hetronifly"],
            "sintilimab": ["Tyvyt"],
            "camrelizumab": [],
            "penpulimab": [],
            "prolgolimab": [],
            "envafolimab": [],
            "sugemalimab": [],
            "adebrelimab": [],
        },
    ),
}


# Products attested in public data but not in the code sets, for the seed.
SEED_PRODUCTS = [
    {
        "system": RXNORM,
        "code": "1364445",
        "display": "apixaban 5 MG Oral Tablet",
        "tty": "SCD",
        "ingredient": "apixaban",
        "source": "public RxNorm concept tables (rxcui 1364445, tty SCD, ingredient apixaban) "
        "and synthetic FHIR medication lists; weak (not fetched from RxNav)",
    },
]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (fixed host)
        return json.load(response)


def _code_sets() -> dict[str, Any]:
    sets: dict[str, Any] = {}
    for file in CODE_SET_FILES:
        sets.update(json.loads((TERMINOLOGY / file).read_text(encoding="utf-8"))["code_sets"])
    return sets


def _ingredients() -> dict[str, dict[str, Any]]:
    """ingredient name → {rxnorm, atc, code_set}, from the packaged medication code sets."""
    sets = _code_sets()
    found: dict[str, dict[str, Any]] = {}
    for name in CODE_SETS:
        codes = sets[name]["codes"]
        for code in codes:
            display = code["display"].strip().lower()
            if " mg " in f" {display} ":  # a clinical drug, not an ingredient
                continue
            entry = found.setdefault(display, {"rxnorm": None, "atc": [], "code_set": name})
            if code["system"] == RXNORM:
                entry["rxnorm"] = code["code"]
            elif code["system"] == ATC and code["code"] not in entry["atc"]:
                # An ingredient listed in several sets is one entry with its codes once.
                entry["atc"].append(code["code"])
    return found


def _seed_products() -> list[dict[str, str]]:
    """Clinical drugs already attested in the code sets (display names the ingredient)."""
    sets = _code_sets()
    products: list[dict[str, str]] = []
    for name in CODE_SETS:
        for code in sets[name]["codes"]:
            display = code["display"]
            listed = any(p["code"] == code["code"] for p in products)
            if code["system"] == RXNORM and " MG " in f" {display} " and not listed:
                products.append(
                    {
                        "system": RXNORM,
                        "code": code["code"],
                        "display": display,
                        "tty": "SCD",
                        "ingredient": display.split(" ")[0].lower(),
                        "source": code["source"],
                    }
                )
    return products


def _rxnav_products(ingredient: str, rxcui: str) -> tuple[list[dict[str, str]], list[str]]:
    related = _get(f"{RXNAV}/rxcui/{rxcui}/related.json?tty=SCD+SBD+BN+GPCK+BPCK")
    products, brands = [], []
    for group in related.get("relatedGroup", {}).get("conceptGroup", []):
        for concept in group.get("conceptProperties", []) or []:
            if group["tty"] == "BN":
                brands.append(concept["name"])
            products.append(
                {
                    "system": RXNORM,
                    "code": concept["rxcui"],
                    "display": concept["name"],
                    "tty": group["tty"],
                    "ingredient": ingredient,
                    "source": f"RxNav related.json?tty=SCD+SBD+BN+GPCK+BPCK of RxCUI {rxcui}",
                }
            )
    return products, brands


def _rxnav_atc(rxcui: str) -> list[str]:
    data = _get(f"{RXNAV}/rxclass/class/byRxcui.json?rxcui={rxcui}&relaSource=ATC")
    infos = data.get("rxclassDrugInfoList", {}).get("rxclassDrugInfo", [])
    return sorted({i["rxclassMinConceptItem"]["classId"] for i in infos})


def build(seed: bool) -> dict[str, Any]:
    ingredients = _ingredients()
    for code_set, (atc_class, members) in SEED_CLASS_MEMBERS.items():
        for name, brands in members.items():
            ingredients.setdefault(name, {"rxnorm": None, "atc": [atc_class], "code_set": code_set})
            SEED_BRANDS.setdefault(name, brands)
    products: list[dict[str, str]] = [] if not seed else [*_seed_products(), *SEED_PRODUCTS]
    for name, entry in ingredients.items():
        entry["names"] = sorted({name, *SEED_BRANDS.get(name, [])}, key=str.lower)
        if seed or entry["rxnorm"] is None:
            continue
        found, brands = _rxnav_products(name, entry["rxnorm"])
        products.extend(found)
        entry["names"] = sorted({name, *brands}, key=str.lower)
        entry["atc"] = sorted(set(entry["atc"]) | set(_rxnav_atc(entry["rxnorm"])))
    return {
        "_meta": {
            "use": "Orders coded by product (RxNorm SCD/SBD/pack/brand) map to their "
            "ingredient codes; order text naming a listed drug whose code is not "
            "recognised makes the medication criterion unknown.",
            "generated_by": "scripts/build_drug_ingredients.py" + (" --seed" if seed else ""),
            "source": (
                "seed: ingredient and product codes from the medication code sets (their own "
                "sources apply), brand names from prescribing information / SmPCs; "
                "RxNav was not reachable when this file was built. Run the script with "
                "network access to add every SCD/SBD/BN/pack from RxNorm."
                if seed
                else "NLM RxNav RxNorm API (related tty SCD+SBD+BN+GPCK+BPCK) and RxClass ATC"
            ),
            "licence": "RxNorm: NLM (UMLS licence terms for some sources); ATC: WHO CC",
        },
        "ingredients": dict(sorted(ingredients.items())),
        "products": sorted(products, key=lambda p: (p["ingredient"], p["code"])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", action="store_true", help="no network; seed content only")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    try:
        data = build(args.seed)
    except OSError as exc:
        print(f"cannot reach RxNav ({exc}); use --seed", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {args.output} ({len(data['products'])} products)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
