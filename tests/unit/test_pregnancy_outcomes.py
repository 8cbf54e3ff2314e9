"""The pregnancy / contraception requirement, path by path: which test decides, what the
reason says, and that the contraception agreement is always needed too."""

from __future__ import annotations

import dataclasses

import pytest

from fhir_mappings.facts import LOINC, SNOMED, ObservationFact
from tests.unit.test_engine_rules import (
    AGREED,
    HCG_SERUM,
    HCG_URINE,
    cond,
    day,
    obs,
    preg,
)

NEGATIVE, POSITIVE = (LOINC, "LA6577-6"), (LOINC, "LA6576-8")
PREGNANCY_STATUS = (LOINC, "82810-3")
MENOPAUSE = (SNOMED, "76498008")
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def agreed() -> ObservationFact:
    return obs(AGREED, boolean=True, days=5)


def test_negative_test_and_agreement() -> None:
    result = preg(obs(HCG_URINE, coded=NEGATIVE, days=3), agreed())
    assert result.status == "met"
    assert result.reason == (
        f"Negative pregnancy test on {day(3)}; Contraception agreement: confirmed on {day(5)}"
    )
    assert [e.date for e in result.evidence] == [day(3).isoformat(), day(5).isoformat()]


def test_declined_agreement_is_not_met_whatever_the_test() -> None:
    declined = obs(AGREED, boolean=False, days=5)
    result = preg(obs(HCG_URINE, coded=NEGATIVE, days=3), declined)
    assert result.status == "not_met"
    assert result.reason == f"Contraception agreement: declined on {day(5)}"
    both = preg(obs(HCG_URINE, coded=POSITIVE, days=3), declined)
    assert both.reason == (
        f"Positive pregnancy test on {day(3)}; Contraception agreement: declined on {day(5)}"
    )


def test_a_positive_result_anywhere_outweighs_a_negative_one() -> None:
    negative = obs(HCG_URINE, coded=NEGATIVE, days=2)
    pregnant = obs(PREGNANCY_STATUS, coded=(SNOMED, "77386006"), days=4)
    result = preg(negative, pregnant, agreed())
    assert result.status == "not_met"
    assert result.reason == f"Positive pregnancy test on {day(4)}"
    high_hcg = obs(HCG_SERUM, q=300, unit="m[IU]/mL", days=1)
    assert preg(negative, high_hcg, agreed()).reason == f"Positive pregnancy test on {day(1)}"


def test_an_indeterminate_hcg_outweighs_a_negative_qualitative_test() -> None:
    negative = obs(HCG_URINE, coded=NEGATIVE, days=2)
    grey = obs(HCG_SERUM, q=12, unit="m[IU]/mL", days=1)
    result = preg(negative, grey, agreed())
    assert result.status == "unknown"
    assert result.reason.startswith(
        f"hCG 12 m[IU]/mL on {day(1)} is indeterminate (5–25 m[IU]/mL); "
    )


def test_an_unreadable_hcg_is_unknown_with_its_reason() -> None:
    bad = obs(HCG_SERUM, q=3, unit="furlongs", days=1)
    result = preg(bad, agreed())
    assert result.status == "unknown"
    assert result.reason.startswith(f"hCG {bad.ref}: unit 'furlongs' not recognised; ")


def test_an_hcg_in_a_unit_of_mass_is_unknown_naming_the_unit_it_needs() -> None:
    # hCG is reported in international units; ng/mL cannot be turned into them.
    mass = obs(HCG_SERUM, q=3, unit="ng/mL", days=1)
    result = preg(mass, agreed())
    assert (result.status, result.reason) == (
        "unknown",
        f"hCG {mass.ref}: unit 'ng/mL' cannot be converted to m[IU]/mL; "
        f"Contraception agreement: confirmed on {day(5)}",
    )


def test_tests_whose_value_and_interpretation_disagree_are_each_cited() -> None:
    positive_flag = frozenset({(V3, "POS")})
    urine = dataclasses.replace(
        obs(HCG_URINE, coded=NEGATIVE, days=2), interpretation=positive_flag
    )
    status = dataclasses.replace(
        obs(PREGNANCY_STATUS, coded=(SNOMED, "60001007"), days=3), interpretation=positive_flag
    )
    agreement = agreed()
    result = preg(urine, status, agreement)
    assert (result.status, result.reason) == (
        "unknown",
        f"Pregnancy test {urine.ref} on {day(2)}: its value and interpretation disagree; "
        f"Contraception agreement: confirmed on {day(5)}",
    )
    assert [e.reference for e in result.evidence] == [urine.ref, status.ref, agreement.ref]


def test_postmenopausal_needs_no_test_but_a_positive_test_still_counts() -> None:
    menopause = (cond(MENOPAUSE, days=2000),)
    met = preg(agreed(), conditions=menopause)
    assert met.reason.startswith(f"Post-menopausal (recorded {day(2000)}); ")
    positive = preg(obs(HCG_URINE, coded=POSITIVE, days=2), agreed(), conditions=menopause)
    assert positive.status == "not_met"
    undated = (cond(MENOPAUSE, days=None),)
    assert preg(agreed(), conditions=undated).status == "unknown"


def test_nothing_on_record() -> None:
    result = preg(agreed())
    assert result.status == "unknown"
    assert result.reason.startswith(
        "No pregnancy test in the last 7 days and no post-menopausal status on record; "
    )
    male = preg(agreed(), gender="male")
    assert male.reason.startswith("Pregnancy test not applicable (male); ")
    unknown = preg(agreed(), gender="unknown")
    assert unknown.reason.startswith(
        "Administrative sex unknown: pregnancy test requirement unclear; "
    )
    untold = preg(agreed(), gender=None)
    assert untold.reason.startswith(
        "Administrative sex not recorded: pregnancy test requirement unclear; "
    )


@pytest.mark.parametrize("gender", ["male", "other", "unknown", None])
def test_a_positive_test_excludes_whatever_the_recorded_sex(gender: str | None) -> None:
    positive = obs(HCG_URINE, coded=POSITIVE, days=3)
    result = preg(positive, agreed(), gender=gender)
    assert (result.status, result.reason) == ("not_met", f"Positive pregnancy test on {day(3)}")
    assert [e.reference for e in result.evidence] == [positive.ref]


@pytest.mark.parametrize("gender", ["other", "unknown", None])
def test_a_negative_test_meets_the_requirement_whoever_it_applies_to(gender: str | None) -> None:
    negative = obs(HCG_URINE, coded=NEGATIVE, days=3)
    result = preg(negative, agreed(), gender=gender)
    assert result.status == "met"
    assert result.reason.startswith(f"Negative pregnancy test on {day(3)}; ")
    no_agreement = preg(obs(HCG_URINE, coded=NEGATIVE, days=3))
    assert no_agreement.reason.endswith(
        "Contraception agreement: needs confirmation by the study team"
    )


def test_the_pregnancy_status_alone_decides_too() -> None:
    pregnant = obs(PREGNANCY_STATUS, coded=(SNOMED, "77386006"), days=4)
    result = preg(pregnant, agreed())
    assert (result.status, result.reason) == ("not_met", f"Positive pregnancy test on {day(4)}")
    assert [e.reference for e in result.evidence] == [pregnant.ref]
    not_pregnant = obs(PREGNANCY_STATUS, coded=(SNOMED, "60001007"), days=4)
    cleared = preg(not_pregnant, agreed())
    assert cleared.status == "met"
    assert cleared.reason.startswith(f"Negative pregnancy test on {day(4)}; ")


def test_each_path_cites_what_decided_it() -> None:
    menopause = cond(MENOPAUSE, days=2000)
    post = preg(agreed(), conditions=(menopause,))
    assert post.evidence[0].reference == menopause.ref
    bad = obs(HCG_SERUM, q=3, unit="furlongs", days=1)
    assert preg(bad, agreed()).evidence[0].reference == bad.ref
    bounded = obs(HCG_SERUM, q=25, unit="m[IU]/mL", comparator="<", days=1)
    grey = preg(bounded, agreed())
    assert grey.evidence[0].reference == bounded.ref
    assert grey.evidence[0].note == "reported as <25"
    declined = obs(AGREED, boolean=False, days=5)
    assert preg(obs(HCG_URINE, coded=NEGATIVE, days=3), declined).evidence == (
        preg(declined, gender="male").evidence
    )
    assert [e.reference for e in preg(declined, gender="male").evidence] == [declined.ref]


def test_a_preliminary_test_that_does_not_count_yet_is_named() -> None:
    draft = obs(HCG_URINE, coded=POSITIVE, days=3, status="preliminary")
    result = preg(draft, agreed())
    assert result.status == "unknown"
    assert result.reason.startswith(
        "No pregnancy test in the last 7 days and no post-menopausal status on record; "
        f"a preliminary result on {day(3)} ({draft.ref}) does not count; "
    )
