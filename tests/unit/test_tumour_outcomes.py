"""MSI / MMR and measurable disease checked whole: the reason a clinician reads and every
piece of evidence, including the combined and the incomplete answers."""

from __future__ import annotations

import dataclasses

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import LOINC, ObservationFact
from tests.unit.test_engine_rules import (
    INTACT,
    LOST,
    MEASURABLE,
    MSI,
    MSI_H,
    MSI_RULE,
    MSS,
    PROTEINS,
    RECIST,
    SIZE,
    day,
    obs,
    record,
    run,
)

WHEN = day(1).isoformat()
INDETERMINATE = (LOINC, "LA4489-6")


def coded_ev(fact: ObservationFact, note: str) -> Evidence:
    return Evidence(fact.ref, sorted(fact.value.codes)[0][1], None, WHEN, note)


# --------------------------------------------------------------------------- MSI / MMR
def test_mss_is_met() -> None:
    msi = obs(MSI, coded=MSS)
    result = run(MSI_RULE, record(msi))
    assert (result.status, result.reason) == ("met", f"Microsatellite stable (MSS) on {WHEN}")
    assert result.evidence == (coded_ev(msi, "microsatellite instability"),)


def test_msi_high_and_lost_proteins_are_named_together() -> None:
    msi = obs(MSI, coded=MSI_H)
    mlh1, msh6 = obs(PROTEINS[0], coded=LOST), obs(PROTEINS[2], coded=LOST)
    result = run(MSI_RULE, record(msi, mlh1, msh6))
    assert (result.status, result.reason) == (
        "not_met",
        f"MSI-high on {WHEN}; loss of MLH1, MSH6 expression (dMMR)",
    )
    assert set(result.evidence) == {
        coded_ev(msi, "microsatellite instability"),
        coded_ev(mlh1, "MLH1"),
        coded_ev(msh6, "MSH6"),
    }
    alone = run(MSI_RULE, record(msi))
    assert (alone.status, alone.reason) == ("not_met", f"MSI-high on {WHEN}")


def test_all_proteins_retained_is_pmmr() -> None:
    intact = [obs(p, coded=INTACT) for p in PROTEINS]
    result = run(MSI_RULE, record(*intact))
    assert (result.status, result.reason) == (
        "met",
        "pMMR: MLH1, MSH2, MSH6 and PMS2 expression retained",
    )
    names = ("MLH1", "MSH2", "MSH6", "PMS2")
    assert set(result.evidence) == {coded_ev(f, n) for f, n in zip(intact, names, strict=True)}
    one = run({**MSI_RULE, "proteins": ["mmr_mlh1"]}, record(intact[0]))
    assert (one.status, one.reason) == ("met", "pMMR: MLH1 expression retained")
    two = run({**MSI_RULE, "proteins": ["mmr_mlh1", "mmr_pms2"]}, record(intact[0], intact[3]))
    assert two.reason == "pMMR: MLH1 and PMS2 expression retained"


def test_indeterminate_and_incomplete_say_what_is_missing() -> None:
    msi = obs(MSI, coded=INDETERMINATE)
    intact = [obs(p, coded=INTACT) for p in PROTEINS[:2]]
    result = run(MSI_RULE, record(msi, *intact))
    assert (result.status, result.reason) == (
        "unknown",
        f"MSI result on {WHEN} is indeterminate; MMR immunohistochemistry incomplete: "
        "MSH6, PMS2 not reported",
    )
    assert len(result.evidence) == 3
    only_msi = run(MSI_RULE, record(msi))
    assert only_msi.reason == (
        f"MSI result on {WHEN} is indeterminate; MMR immunohistochemistry incomplete: "
        "MLH1, MSH2, MSH6, PMS2 not reported"
    )
    partial = run(MSI_RULE, record(*intact))
    assert partial.reason == "MMR immunohistochemistry incomplete: MSH6, PMS2 not reported"
    equivocal = obs(PROTEINS[2], coded=INDETERMINATE)
    with_equivocal = run(MSI_RULE, record(*intact, equivocal))
    assert with_equivocal.reason == "MMR immunohistochemistry incomplete: MSH6, PMS2 not reported"


def test_no_result_and_no_observations() -> None:
    none = run(MSI_RULE, record())
    assert (none.status, none.reason, none.evidence) == (
        "unknown",
        "No MSI or MMR result on record",
        (),
    )
    down = run(MSI_RULE, record(unavailable={"Observation": "HTTP 500"}))
    assert (down.status, down.reason, down.evidence) == (
        "unknown",
        "Observations could not be retrieved (HTTP 500)",
        (),
    )


# --------------------------------------------------------------------------- measurable disease
def test_the_largest_lesion_decides() -> None:
    big, small = obs(SIZE, q=3.2, unit="cm"), obs(SIZE, q=12, unit="mm", days=3)
    result = run(MEASURABLE, record(big, small), lookback=90)
    assert (result.status, result.reason) == ("met", f"Lesion of 32 mm on {WHEN} (≥ 10 mm)")
    assert result.evidence == (Evidence(big.ref, 3.2, "cm", WHEN, None),)


def test_at_the_minimum_size_is_met_just_below_is_unknown() -> None:
    at = run(MEASURABLE, record(obs(SIZE, q=10, unit="mm")), lookback=90)
    assert (at.status, at.reason) == ("met", f"Lesion of 10 mm on {WHEN} (≥ 10 mm)")
    below = obs(SIZE, q=9.9, unit="mm")
    result = run(MEASURABLE, record(below), lookback=90)
    assert (result.status, result.reason) == (
        "unknown",
        "Largest recorded lesion 9.9 mm (< 10 mm); measurability needs a radiologist",
    )
    assert result.evidence == (Evidence(below.ref, 9.9, "mm", WHEN, None),)


def test_sizes_that_do_not_count() -> None:
    for fact in (
        obs(SIZE, q=30, unit="mm", comparator=">"),
        obs(SIZE, q=30, unit="mm", status="preliminary"),
        obs(SIZE, q=30, unit="mm", days=91),
        obs(SIZE, q=30, unit="kg"),
    ):
        result = run(MEASURABLE, record(fact), lookback=90)
        assert (result.status, result.reason) == (
            "unknown",
            "No RECIST assessment or tumour size in the last 90 days",
        )


def test_the_recist_flag_decides_both_ways() -> None:
    yes, no = obs(RECIST, boolean=True), obs(RECIST, boolean=False)
    met = run(MEASURABLE, record(yes), lookback=90)
    assert (met.status, met.reason) == (
        "met",
        f"Measurable disease (RECIST 1.1) recorded on {WHEN}",
    )
    assert met.evidence == (Evidence(yes.ref, True, None, WHEN, None),)
    not_met = run(MEASURABLE, record(no), lookback=90)
    assert (not_met.status, not_met.reason) == (
        "not_met",
        f"No measurable disease (RECIST 1.1) recorded on {WHEN}",
    )
    assert not_met.evidence == (Evidence(no.ref, False, None, WHEN, None),)


def test_a_flag_that_does_not_count_is_explained() -> None:
    flag = obs(RECIST, boolean=True, status="preliminary")
    result = run(MEASURABLE, record(flag), lookback=90)
    assert (result.status, result.reason) == (
        "unknown",
        "No RECIST assessment or tumour size in the last 90 days "
        f"(a preliminary result on {WHEN} ({flag.ref}) does not count)",
    )
    down = run(MEASURABLE, record(unavailable={"Observation": "HTTP 500"}), lookback=90)
    assert (down.status, down.reason) == (
        "unknown",
        "Observations could not be retrieved (HTTP 500)",
    )


def test_mss_with_a_lost_protein_names_only_the_loss() -> None:
    result = run(MSI_RULE, record(obs(MSI, coded=MSS), obs(PROTEINS[0], coded=LOST)))
    assert (result.status, result.reason) == ("not_met", "loss of MLH1 expression (dMMR)")


def test_a_protein_result_in_words_is_cited_as_written() -> None:
    words = obs(PROTEINS[0], text="equivocal staining")
    result = run(MSI_RULE, record(words))
    assert (result.status, result.reason) == (
        "unknown",
        "MMR immunohistochemistry incomplete: MLH1, MSH2, MSH6, PMS2 not reported",
    )
    assert result.evidence == (Evidence(words.ref, "equivocal staining", None, WHEN, "MLH1"),)


def test_an_unconvertible_size_does_not_hide_an_older_one() -> None:
    wrong_unit, size = obs(SIZE, q=30, unit="kg"), obs(SIZE, q=20, unit="mm", days=5)
    result = run(MEASURABLE, record(wrong_unit, size), lookback=90)
    assert (result.status, result.reason) == ("met", f"Lesion of 20 mm on {day(5)} (≥ 10 mm)")


def test_equal_sizes_cite_the_newest() -> None:
    newer, older = obs(SIZE, q=15, unit="mm"), obs(SIZE, q=15, unit="mm", days=5)
    result = run(MEASURABLE, record(newer, older), lookback=90)
    assert (result.status, result.reason) == ("met", f"Lesion of 15 mm on {WHEN} (≥ 10 mm)")
    assert result.evidence == (Evidence(newer.ref, 15, "mm", WHEN, None),)


def test_msi_low_is_named_as_neither_stable_nor_high() -> None:
    low = obs(MSI, coded=("http://loinc.org", "LA26202-4"))
    result = run(MSI_RULE, record(low))
    assert (result.status, result.reason) == (
        "unknown",
        f"MSI result on {WHEN} is MSI-L: neither stable nor high; MMR immunohistochemistry "
        "incomplete: MLH1, MSH2, MSH6, PMS2 not reported",
    )
    worded = dataclasses.replace(low, value=dataclasses.replace(low.value, text="MSI-low"))
    assert run(MSI_RULE, record(worded)).reason.startswith(
        f"MSI result on {WHEN} is MSI-low: neither stable nor high; "
    )
