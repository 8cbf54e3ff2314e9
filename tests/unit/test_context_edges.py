"""The per-screening buckets and same-day checks at their edges: a trial whose Observation
code set matches by prefix (a local hierarchy) buckets results by prefix as well as by
exact code, and results of one day compete only when their times of day cannot order
them (equal, or one of them untimed)."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from cds_hooks.eligibility import Engine
from cds_hooks.eligibility.context import CodeIndex, Screening
from cds_hooks.trials.loader import parse_trial
from fhir_mappings.facts import LOINC
from fhir_mappings.record import build_record
from fhir_mappings.terminology import DATA_DIR, Terminology, load_terminology
from tests.unit.test_engine_rules import ANC_RULE, AS_OF, TERMINOLOGY, run
from tests.unit.test_observations import lab

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-05-01", "gender": "male"}
LOCAL = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"
WHEN = "2026-03-01"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


# --------------------------------------------------------------------------- prefixed sets
@pytest.fixture(scope="module")
def local_terms(tmp_path_factory: pytest.TempPathFactory) -> Terminology:
    """The packaged terminology plus a set of a lab's own hierarchical codes: "NEUT" and
    everything under "NEUT-" (NEUT-EDTA, NEUT-MAN ...)."""
    folder = tmp_path_factory.mktemp("terminology")
    for path in DATA_DIR.glob("*.json"):
        shutil.copy(path, folder / path.name)
    entry = {"verification": "verified", "source": "test"}
    local = {
        "description": "Neutrophils, the lab's own codes",
        "source": "test",
        "codes": [{"system": LOCAL, "code": "NEUT", "display": "Neutrophils", **entry}],
        "code_prefixes": [{"system": LOCAL, "prefix": "NEUT-", "display": "Neutrophils", **entry}],
    }
    (folder / "local.json").write_text(json.dumps({"code_sets": {"local_neutrophils": local}}))
    return load_terminology(folder)


def screen_local(terms: Terminology, *results: dict[str, Any], selected: bool) -> Any:
    rule = {**ANC_RULE, "code_set": "local_neutrophils"}
    raw = {
        "id": "local",
        "title": "Local",
        "short_title": "Local",
        "summary": "test",
        "registry": {"id": "NCT0", "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": 28,
        "criteria": [{"id": "c", "title": "C", "role": "inclusion", "kind": "data", "rule": rule}],
    }
    engine = Engine([parse_trial(raw, "test")], terms)
    record = build_record(
        [PATIENT, *results],
        terminology=terms,
        observations_read=engine.observations_read if selected else None,
    )
    return engine.screen(record, AS_OF).trials[0].criteria[0]


def local_result(oid: str, code: str, value: float, day: str) -> dict[str, Any]:
    return lab(
        id=oid,
        code={"coding": [{"system": LOCAL, "code": code}]},
        effectiveDateTime=day,
        valueQuantity={
            "value": value,
            "unit": "10^9/L",
            "system": "http://unitsofmeasure.org",
            "code": "10*9/L",
        },
    )


@pytest.mark.parametrize("selected", [False, True])
def test_a_result_coded_under_a_prefix_is_read_and_decides(
    local_terms: Terminology, selected: bool
) -> None:
    result = screen_local(
        local_terms,
        local_result("exact", "NEUT", 0.9, "2026-02-20"),
        local_result("under", "NEUT-EDTA", 2.0, "2026-02-27"),
        selected=selected,
    )
    assert (result.status, result.evidence[0].reference) == ("met", "Observation/under")


@pytest.mark.parametrize("selected", [False, True])
def test_a_code_outside_the_prefix_is_not_read(local_terms: Terminology, selected: bool) -> None:
    result = screen_local(
        local_terms,
        local_result("exact", "NEUT", 2.0, "2026-02-20"),
        local_result("other", "NEUTX", 0.9, "2026-02-27"),  # "NEUT" but not "NEUT-"
        selected=selected,
    )
    assert (result.status, result.evidence[0].reference) == ("met", "Observation/exact")


# --------------------------------------------------------------------------- same day
def anc(oid: str, value: float, moment: str) -> dict[str, Any]:
    return lab(
        id=oid,
        effectiveDateTime=moment,
        valueQuantity={"value": value, "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    )


def screen(*results: dict[str, Any]) -> Any:
    return run(ANC_RULE, build_record([PATIENT, *results]))


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (f"{WHEN}T08:00:00+01:00", f"{WHEN}T08:00:00+01:00"),  # the same time
        (f"{WHEN}T08:00:00+01:00", WHEN),  # one untimed
        (WHEN, f"{WHEN}T08:00:00+01:00"),
        (WHEN, WHEN),
    ],
)
def test_same_day_results_that_cannot_be_ordered_and_disagree_are_unknown(
    low: str, high: str
) -> None:
    results = (anc("low", 1.2, low), anc("high", 2.4, high))
    for order in (results, results[::-1]):
        result = screen(*order)
        assert result.status == "unknown"
        assert result.reason.startswith(f"ANC: 2 results on {WHEN} disagree (")
        assert {e.reference for e in result.evidence} == {"Observation/low", "Observation/high"}


@pytest.mark.parametrize(
    ("later", "value", "status"), [("high", 2.4, "met"), ("low", 1.2, "not_met")]
)
def test_a_later_time_of_day_decides_alone(later: str, value: float, status: str) -> None:
    earlier = "low" if later == "high" else "high"
    results = (
        anc(later, value, f"{WHEN}T09:00:00+01:00"),
        anc(earlier, 3.6 - value, f"{WHEN}T08:59:59+01:00"),
    )
    for order in (results, results[::-1]):
        result = screen(*order)
        assert result.status == status
        assert [e.reference for e in result.evidence] == [f"Observation/{later}"]


def test_same_day_results_that_agree_decide() -> None:
    moment = f"{WHEN}T08:00:00+01:00"
    result = screen(anc("a", 1.8, moment), anc("b", 2.4, moment), anc("c", 3.0, WHEN))
    assert result.status == "met"
    assert len(result.evidence) == 1


# --------------------------------------------------------------------------- no result
UNDATED = lab(id="undated", effectiveDateTime=None, issued=None)


def not_counted(oid: str, day: str, status: str) -> dict[str, Any]:
    return lab(id=oid, effectiveDateTime=day, status=status)


def valueless(oid: str, day: str, flag: str | None) -> dict[str, Any]:
    result = lab(id=oid, effectiveDateTime=day)
    del result["valueQuantity"]
    if flag is not None:
        result["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": flag}]}]
    return result


def absent(oid: str, day: str) -> dict[str, Any]:
    return lab(id=oid, effectiveDateTime=day, dataAbsentReason={"text": f"Clotted {oid}"})


@pytest.mark.parametrize(
    ("results", "reason"),
    [
        # A future result is not "the latest" of anything, nor unusable: it is named, as
        # not counting (the chart shows it; the reason must not pretend it is not there).
        (
            (anc("future", 2.0, "2026-03-05"),),
            "ANC: no result in the last 28 days; Observation/future of 2026-03-05 is dated "
            "after the screening date (2026-03-02) and does not count",
        ),
        (
            (UNDATED,),
            "ANC: no result in the last 28 days; Observation/undated is unusable (no usable date)",
        ),
        (
            (UNDATED, anc("future", 2.0, "2026-03-05")),
            "ANC: no result in the last 28 days; Observation/future of 2026-03-05 is dated "
            "after the screening date (2026-03-02) and does not count; Observation/undated is "
            "unusable (no usable date)",
        ),
        (
            (UNDATED, anc("old", 2.0, "2026-01-05")),
            "ANC: no result in the last 28 days; latest 2026-01-05 (Observation/old), 56 days "
            "old; Observation/undated is unusable (no usable date)",
        ),
        (
            # The newest unusable result is the one named.
            (UNDATED, lab(id="absent", dataAbsentReason={"text": "Clotted"})),
            "ANC: no result in the last 28 days; Observation/absent is unusable "
            "(data absent: Clotted)",
        ),
        (
            # An impossible newest result: the current value is unknown, and the older one
            # inside the window must not stand in for it.
            (anc("imp", 400, "2026-02-28"), anc("ok", 2.0, "2026-02-20")),
            "ANC: latest result Observation/imp on 2026-02-28: implausible value: "
            "400 10*9/L is outside the physiological limits 0–300 10*9/L",
        ),
        (
            # An impossible result outside the window is passed over, not the end of it.
            (anc("imp", 400, "2026-01-21"), anc("old", 2.0, "2026-01-11")),
            "ANC: no result in the last 28 days; latest 2026-01-11 (Observation/old), 50 days old",
        ),
        # Results that do not count, or cannot be used, are named only inside the window,
        # and then the newest of them.
        ((not_counted("p0", "2026-01-21", "preliminary"),), "ANC: no result in the last 28 days"),
        (
            (
                not_counted("p1", "2026-02-28", "preliminary"),
                not_counted("p2", "2026-02-25", "registered"),
            ),
            "ANC: no result in the last 28 days; a preliminary result on 2026-02-28 "
            "(Observation/p1) does not count",
        ),
        ((absent("a0", "2026-01-21"),), "ANC: no result in the last 28 days"),
        (
            # A result with no value, only its flag, is named, not passed over in silence.
            (valueless("v1", "2026-02-28", "L"), valueless("v2", "2026-02-25", None)),
            "ANC: no result in the last 28 days; Observation/v1 is unusable (no value, only "
            "the interpretation L)",
        ),
        (
            (valueless("v2", "2026-02-25", None),),
            "ANC: no result in the last 28 days; Observation/v2 is unusable (no value)",
        ),
        ((valueless("v0", "2026-01-21", "L"),), "ANC: no result in the last 28 days"),
        (
            ({**lab(id="null", effectiveDateTime="2026-02-28"), "valueQuantity": None},),
            "ANC: no result in the last 28 days; Observation/null is unusable "
            "(valueQuantity is null)",
        ),
        (
            (absent("a1", "2026-02-28"), absent("a2", "2026-02-25")),
            "ANC: no result in the last 28 days; Observation/a1 is unusable (data absent: "
            "Clotted a1)",
        ),
    ],
)
def test_why_no_result_decides(results: tuple[dict[str, Any], ...], reason: str) -> None:
    for order in (results, results[::-1]):
        result = screen(*order)
        assert (result.status, result.reason) == ("unknown", reason)


def test_a_future_result_does_not_hide_one_inside_the_window() -> None:
    result = screen(anc("future", 0.9, "2026-03-05"), anc("now", 2.0, "2026-03-01"))
    assert (result.status, result.evidence[0].reference) == ("met", "Observation/now")


@pytest.mark.parametrize(
    "newest",
    [
        absent("absent", "2026-03-01"),
        lab(id="empty", effectiveDateTime="2026-03-01", valueQuantity=None),
        not_counted("prelim", "2026-03-01", "preliminary"),
    ],
)
def test_an_unusable_newest_result_leaves_the_decision_to_an_older_one(
    newest: dict[str, Any],
) -> None:
    result = screen(newest, anc("older", 2.0, "2026-02-20"))
    assert (result.status, result.evidence[0].reference) == ("met", "Observation/older")


@pytest.mark.parametrize(("status", "article"), [("X-pending", "a"), ("entered-in-error", "an")])
def test_a_status_that_does_not_count_is_named_with_its_article(status: str, article: str) -> None:
    result = screen(not_counted("odd", "2026-03-01", status))
    assert result.reason == (
        f"ANC: no result in the last 28 days; {article} {status} result on 2026-03-01 "
        "(Observation/odd) does not count"
    )


# --------------------------------------------------------------------------- buckets
def test_a_result_with_two_codes_of_one_set_is_bucketed_once() -> None:
    # 751-8 and 26499-4 are both ANC: one result, however many of its codes the set holds.
    two_codes = lab(
        code={"coding": [{"system": LOINC, "code": "751-8"}, {"system": LOINC, "code": "26499-4"}]},
        component=[
            {
                "code": {
                    "coding": [
                        {"system": LOINC, "code": "753-4"},
                        {"system": LOINC, "code": "26499-4"},
                    ]
                },
                "valueQuantity": {"value": 3.1, "code": "10*9/L"},
            }
        ],
    )
    record = build_record([PATIENT, two_codes])
    index = CodeIndex.build(TERMINOLOGY, ["anc", "hemoglobin"])
    screening = Screening.build(record, AS_OF, TERMINOLOGY, index)
    (fact,) = record.observations
    assert screening.observations == {"anc": [fact]}
    assert screening.components == {"anc": [(fact, fact.components[0])]}


# --------------------------------------------------------------------------- newer, preliminary
def preliminary(oid: str, value: float, moment: str) -> dict[str, Any]:
    return {**anc(oid, value, moment), "status": "preliminary"}


def test_a_newer_preliminary_result_is_named_but_does_not_decide() -> None:
    results = (preliminary("p", 0.5, "2026-02-28"), anc("f", 3.2, "2026-02-20"))
    for order in (results, results[::-1]):
        result = screen(*order)
        assert result.status == "met"
        assert result.reason == (
            "ANC 3.2 10*9/L on 2026-02-20 ≥ 1.5 10*9/L; newer result that did not count: "
            "Observation/p on 2026-02-28 (preliminary)"
        )
        assert [(e.reference, e.value, e.note) for e in result.evidence] == [
            ("Observation/f", 3.2, None),
            ("Observation/p", 0.5, "preliminary, not counted"),
        ]


@pytest.mark.parametrize(
    "other",
    [
        preliminary("p", 0.5, "2026-02-10"),  # older than the final result
        preliminary("p", 0.5, "2026-01-20"),  # outside the window
        {**valueless("p", "2026-02-28", "L"), "status": "preliminary"},  # nothing to wait for
        {**anc("p", 0.5, "2026-02-28"), "status": "registered"},  # no result yet
        {**anc("p", 0.5, "2026-02-28"), "status": "entered-in-error"},
    ],
)
def test_only_a_newer_valued_preliminary_result_inside_the_window_is_named(
    other: dict[str, Any],
) -> None:
    result = screen(other, anc("f", 3.2, "2026-02-20"))
    assert (result.status, result.reason) == ("met", "ANC 3.2 10*9/L on 2026-02-20 ≥ 1.5 10*9/L")
    assert [e.reference for e in result.evidence] == ["Observation/f"]


def test_a_preliminary_result_is_named_once_per_criterion_and_not_in_the_next() -> None:
    # Two criteria read the same cached search: each names the pending result once.
    rule = {"type": "all_of", "rules": [ANC_RULE, ANC_RULE]}
    rec_inputs = [PATIENT, preliminary("p", 0.5, "2026-02-28"), anc("f", 3.2, "2026-02-20")]
    result = run(rule, build_record(rec_inputs))
    assert result.reason.count("Observation/p on 2026-02-28") == 1
    # The next criterion of the trial, reading another code set, names nothing.
    raw = {
        "id": "two",
        "title": "Two",
        "short_title": "Two",
        "summary": "test",
        "registry": {"id": "NCT0", "url": "https://example.org", "status": "recruiting"},
        "target_condition": {"code_sets": ["rectal_cancer_dx"]},
        "treatment_orders": {"code_sets": []},
        "lookback_days": 28,
        "criteria": [
            {"id": c, "title": c, "role": "inclusion", "kind": "data", "rule": r}
            for c, r in (
                ("anc", ANC_RULE),
                ("hb", {**ANC_RULE, "code_set": "hemoglobin", "value": 9, "unit": "g/dL"}),
            )
        ],
    }
    hb = lab(
        id="hb",
        code={"coding": [{"system": LOINC, "code": "718-7"}]},
        effectiveDateTime="2026-02-20",
        valueQuantity={"value": 13.1, "system": "http://unitsofmeasure.org", "code": "g/dL"},
    )
    first, second = (
        Engine([parse_trial(raw, "test")], TERMINOLOGY)
        .screen(build_record([*rec_inputs, hb]), AS_OF)
        .trials[0]
        .criteria
    )
    assert "Observation/p" in first.reason
    assert "preliminary" not in second.reason


def test_newer_results_without_a_value_are_named_and_the_older_one_decides() -> None:
    results = (
        valueless("v", "2026-02-27", "L"),
        absent("a", "2026-02-25"),
        preliminary("p", 0.5, "2026-02-24"),
        anc("f", 3.2, "2026-02-20"),
    )
    result = screen(*results)
    assert (result.status, result.reason) == (
        "met",
        "ANC 3.2 10*9/L on 2026-02-20 ≥ 1.5 10*9/L; newer results that did not count: "
        "Observation/v on 2026-02-27 (no value, only the interpretation L), Observation/a on "
        "2026-02-25 (data absent: Clotted a), Observation/p on 2026-02-24 (preliminary)",
    )
    assert [(e.reference, e.note) for e in result.evidence] == [
        ("Observation/f", None),
        ("Observation/v", "no value, only the interpretation L, not counted"),
        ("Observation/a", "data absent: Clotted a, not counted"),
        ("Observation/p", "preliminary, not counted"),
    ]


def test_two_newer_results_are_named_in_the_plural() -> None:
    results = (preliminary("p", 0.5, "2026-02-28"), absent("a", "2026-02-25"))
    result = screen(*results, anc("f", 3.2, "2026-02-20"))
    assert (result.status, result.reason) == (
        "met",
        "ANC 3.2 10*9/L on 2026-02-20 ≥ 1.5 10*9/L; newer results that did not count: "
        "Observation/p on 2026-02-28 (preliminary), Observation/a on 2026-02-25 (data absent: "
        "Clotted a)",
    )


def test_a_result_with_only_flags_names_every_flag() -> None:
    # Sent as "L" and "A" with no value: the reader of the reason sees both flags, in order.
    flagged = valueless("v", "2026-02-27", "L")
    flagged["interpretation"].append({"coding": [{"system": INTERPRETATION, "code": "A"}]})
    result = screen(flagged, anc("f", 3.2, "2026-02-20"))
    assert result.reason == (
        "ANC 3.2 10*9/L on 2026-02-20 ≥ 1.5 10*9/L; newer result that did not count: "
        "Observation/v on 2026-02-27 (no value, only the interpretation A, L)"
    )
    assert [e.note for e in result.evidence] == [
        None,
        "no value, only the interpretation A, L, not counted",
    ]
    # With no result inside the window to decide, it is the one named as unusable.
    alone = screen(flagged)
    assert (alone.status, alone.reason) == (
        "unknown",
        "ANC: no result in the last 28 days; Observation/v is unusable (no value, only the "
        "interpretation A, L)",
    )


def test_a_newer_value_that_cannot_be_read_is_not_replaced_by_an_older_one() -> None:
    garbled = lab(
        id="g",
        effectiveDateTime="2026-02-27",
        valueQuantity={"value": "0,8", "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    )
    result = screen(garbled, anc("f", 3.2, "2026-02-20"))
    assert (result.status, result.reason) == (
        "unknown",
        "ANC: latest result Observation/g on 2026-02-27 cannot be read (quantity value '0,8' "
        "is not a number); the older Observation/f of 2026-02-20 does not stand in for it",
    )
    # Older than the result that decides, it does not matter.
    old = {**garbled, "effectiveDateTime": "2026-02-10"}
    assert screen(old, anc("f", 3.2, "2026-02-20")).status == "met"


@pytest.mark.parametrize(
    ("status", "why"), [("unknown", "status unknown"), (None, "status not given")]
)
def test_a_newer_result_of_no_known_status_is_named(status: str | None, why: str) -> None:
    newer = {**anc("s", 0.5, "2026-02-28"), "status": status}
    result = screen({k: v for k, v in newer.items() if v is not None}, anc("f", 3.2, "2026-02-20"))
    assert (result.status, result.reason) == (
        "met",
        f"ANC 3.2 10*9/L on 2026-02-20 ≥ 1.5 10*9/L; newer result that did not count: "
        f"Observation/s on 2026-02-28 ({why})",
    )
