"""Each path of the presence, count, history and attestation rules, checked whole: status,
the reason a clinician reads, and every piece of evidence (reference, value, date, note).
A rule that decides right for the wrong reason, or cites the wrong resource, fails here."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import (
    ICDO3,
    LOINC,
    AllergyFact,
    DiagnosticReportFact,
    ObservationComponent,
    ObservationFact,
    ObservationValue,
    PatientFact,
    PatientRecord,
    ProcedureFact,
)
from tests.unit.test_engine_rules import AS_OF, C20, HISTOLOGY, cond, day, diagnose, obs, record
from tests.unit.test_rules_generic import (
    ALLERGY,
    BREASTFEEDING,
    DERIVED_ANC,
    EBRT,
    FEEDING,
    LIVER,
    LUNG,
    NEUT,
    OXALIPLATIN,
    PROSTATE,
    RADIOTHERAPY,
    RECTAL,
    SIGNET,
    SITES,
    WBC,
    malignancy,
    rec,
    run,
)

TODAY = AS_OF.isoformat()


# --------------------------------------------------------------------------- sex
def sex_record(gender: str | None, birth: date | None = date(1960, 5, 1)) -> PatientRecord:
    return PatientRecord(patient=PatientFact("Patient/p", birth, "day" if birth else None, gender))


SEX = {"type": "sex", "label": "Sex", "sex": "female"}


def test_sex_outcomes() -> None:
    met = run(SEX, sex_record("female"))
    assert (met.status, met.reason) == ("met", "Sex: female")
    assert met.evidence == (
        Evidence("Patient/p", "female", None, "1960-05-01", "administrative gender"),
    )
    other = run(SEX, sex_record("male", birth=None))
    assert (other.status, other.reason) == ("not_met", "Sex: not applicable (male)")
    assert other.evidence == (Evidence("Patient/p", "male", None, TODAY, "administrative gender"),)
    for gender, shown in (("unknown", "unknown"), ("other", "other"), (None, "not recorded")):
        unknown = run(SEX, sex_record(gender))
        assert (unknown.status, unknown.reason) == (
            "unknown",
            f"Sex: administrative sex is {shown}",
        )
        assert unknown.evidence == ()


# --------------------------------------------------------------------------- condition
def test_condition_outcomes() -> None:
    prostate = cond(PROSTATE, days=400)
    met = run(malignancy(), rec(conditions=(prostate,)), lookback=1826)
    assert (met.status, met.reason) == ("met", f"Other malignancy: condition on {day(400)}, active")
    assert met.evidence == (Evidence(prostate.ref, PROSTATE[1], None, day(400).isoformat(), None),)

    old = cond(PROSTATE, days=2500)
    before = run(malignancy(), rec(conditions=(old,)), lookback=1826)
    assert before.status == "not_met"
    assert before.reason == (
        f"Other malignancy: only {old.ref} on {day(2500)}, more than 1826 days ago"
    )
    assert before.evidence == (
        Evidence(old.ref, PROSTATE[1], None, day(2500).isoformat(), "before the 1826-day window"),
    )

    undated = cond(PROSTATE, days=None)
    result = run(malignancy(), rec(conditions=(undated,)))
    assert result.reason == f"Other malignancy: {undated.ref} on record without a date"
    assert result.evidence == (Evidence(undated.ref, PROSTATE[1], None, None, None),)

    clear = run(malignancy(), rec(conditions=(cond(RECTAL),)))
    assert (clear.status, clear.reason) == (
        "not_met",
        "No other malignancy among 1 condition reviewed",
    )
    assert clear.evidence == (
        Evidence("Condition?patient=p", 1, None, TODAY, "condition reviewed on the screening date"),
    )


def test_condition_active_only_outcomes() -> None:
    ibd = {
        "type": "condition",
        "label": "Active IBD",
        "code_sets": ["inflammatory_bowel_disease_dx"],
        "active_only": True,
        "absence": "not_met",
    }
    crohn = ("http://hl7.org/fhir/sid/icd-10-cm", "K50.90")
    no_status = cond(crohn, clinical=None)
    unclear = run(ibd, rec(conditions=(no_status,)))
    assert unclear.status == "unknown"
    assert unclear.reason == (
        f"Active IBD: {no_status.ref} on record without a clinical status (active or not?)"
    )
    assert [e.reference for e in unclear.evidence] == [no_status.ref]
    resolved = run(ibd, rec(conditions=(cond(crohn, clinical="resolved"),)))
    assert (resolved.status, resolved.reason) == (
        "not_met",
        "No active IBD among 1 condition reviewed",
    )
    recent = cond(crohn, clinical="relapse", days=5)
    met = run(ibd, rec(conditions=(recent, cond(crohn, clinical="resolved"))))
    assert met.reason == f"Active IBD: condition on {day(5)}, relapse"


def test_condition_with_its_own_window() -> None:
    mi = {
        "type": "condition",
        "label": "MI in 6 months",
        "code_sets": ["myocardial_infarction_dx"],
        "active_only": False,
        "within_days": 183,
        "absence": "not_met",
    }
    infarct = ("http://hl7.org/fhir/sid/icd-10-cm", "I21.9")
    assert run(mi, rec(conditions=(cond(infarct, days=183),)), lookback=10).status == "met"
    result = run(mi, rec(conditions=(cond(infarct, days=184),)), lookback=10)
    assert result.status == "not_met"
    assert result.reason.endswith("more than 183 days ago")


# --------------------------------------------------------------------------- counts
def test_distinct_count_outcomes() -> None:
    liver, lung = cond(LIVER, days=10), cond(LUNG, days=20)
    two = run(SITES, rec(conditions=(liver, lung)))
    assert two.status == "met"
    assert two.reason == "Metastatic sites: 2 (liver, lung) ≤ 2"
    assert [e.reference for e in two.evidence] == [liver.ref, lung.ref]
    one = run({**SITES, "op": ">="}, rec(conditions=(liver,)))
    assert (one.status, one.reason) == ("not_met", "Metastatic sites: 1 (liver) < 2")

    old = cond(LIVER, days=4000)
    outside = run(SITES, rec(conditions=(liver, old)))
    assert outside.status == "unknown"
    assert outside.reason == (
        "Metastatic sites: 1 record(s) undated or outside the 3650-day window"
    )
    assert [e.reference for e in outside.evidence] == [liver.ref, old.ref]

    unplaced = cond(("http://hl7.org/fhir/sid/icd-10-cm", "C79.9"), days=10)
    site = run(SITES, rec(conditions=(liver, unplaced)))
    assert site.reason == f"Metastatic sites: the site of {unplaced.ref} cannot be determined"
    assert [e.reference for e in site.evidence] == [liver.ref, unplaced.ref]

    none = run(SITES, rec())
    assert (none.status, none.reason, none.evidence) == (
        "unknown",
        "Metastatic sites: none on record",
        (),
    )
    resolved = run(SITES, rec(conditions=(cond(LIVER, clinical="resolved"),)))
    assert resolved.reason == "Metastatic sites: none on record"


def test_a_body_site_places_an_unspecified_metastasis() -> None:
    liver_site = frozenset({("http://snomed.info/sct", "10200004")})
    placed = cond(("http://hl7.org/fhir/sid/icd-10-cm", "C79.9"), days=10, body_sites=liver_site)
    result = run(SITES, rec(conditions=(placed,)))
    assert result.status == "met"
    assert result.reason == "Metastatic sites: 1 (liver) ≤ 2"


# --------------------------------------------------------------------------- histology
SIGNET_RING = frozenset({(ICDO3, "8490/3")})
ADENO = frozenset({(ICDO3, "8140/3")})


def test_histology_outcomes() -> None:
    signet = cond(RECTAL, histology=SIGNET_RING)
    met = run(SIGNET, rec(conditions=(signet,)))
    assert (met.status, met.reason) == (
        "met",
        f"Signet ring: recorded in {signet.ref} on {day(60)}",
    )
    assert met.evidence == (
        Evidence(signet.ref, RECTAL[1], None, day(60).isoformat(), "histology"),
    )
    adeno = cond(RECTAL, histology=ADENO)
    other = run(SIGNET, rec(conditions=(adeno,)))
    assert (other.status, other.reason) == (
        "not_met",
        f"Signet ring: not the histology recorded in {adeno.ref} on {day(60)}",
    )
    none = run(SIGNET, rec(conditions=(cond(RECTAL),)))
    assert none.reason == "Signet ring: no histology recorded on the diagnosis or a report"
    inactive = run(
        SIGNET, rec(conditions=(cond(RECTAL, histology=SIGNET_RING, clinical="resolved"),))
    )
    assert inactive.status == "unknown"


def report(
    status: str = "final", codes: frozenset[tuple[str, str]] = SIGNET_RING
) -> DiagnosticReportFact:
    return DiagnosticReportFact(
        "DiagnosticReport/r", frozenset(), status, day(20), "signet ring cell carcinoma", codes
    )


def test_histology_from_a_report() -> None:
    met = run(SIGNET, rec(conditions=(cond(RECTAL),), reports=(report(),)))
    assert met.reason == f"Signet ring: recorded in DiagnosticReport/r on {day(20)}"
    assert met.evidence == (
        Evidence(
            "DiagnosticReport/r",
            "signet ring cell carcinoma",
            None,
            day(20).isoformat(),
            "pathology conclusion",
        ),
    )
    preliminary = run(SIGNET, rec(conditions=(cond(RECTAL),), reports=(report("preliminary"),)))
    assert preliminary.status == "unknown"
    down = rec(
        conditions=(cond(RECTAL),), reports=(report(),), unavailable={"DiagnosticReport": "x"}
    )
    assert run(SIGNET, down).status == "unknown"
    # The diagnosis's own histology is read before reports.
    both = run(SIGNET, rec(conditions=(cond(RECTAL, histology=ADENO),), reports=(report(),)))
    assert both.status == "met"
    assert both.evidence[0].reference == "DiagnosticReport/r"


# --------------------------------------------------------------------------- history
def test_procedure_history_outcomes() -> None:
    done = ProcedureFact("Procedure/x", frozenset({EBRT}), "completed", day(300), display="EBRT")
    met = run(RADIOTHERAPY, rec(procedures=(done,)), lookback=36500)
    assert (met.status, met.reason) == (
        "met",
        f"Prior radiotherapy: EBRT on {day(300)} (completed)",
    )
    assert met.evidence == (
        Evidence("Procedure/x", "EBRT", None, day(300).isoformat(), "completed"),
    )
    nameless = ProcedureFact("Procedure/y", frozenset({EBRT}), "in-progress", day(3))
    assert run(RADIOTHERAPY, rec(procedures=(nameless,))).reason == (
        f"Prior radiotherapy: Procedure/y on {day(3)} (in-progress)"
    )
    undated = ProcedureFact("Procedure/z", frozenset({EBRT}), "completed", None)
    result = run(RADIOTHERAPY, rec(procedures=(undated,)))
    assert (result.status, result.reason) == (
        "unknown",
        "Prior radiotherapy: Procedure/z on record without a date",
    )
    assert result.evidence == (Evidence("Procedure/z", None, None, None, "completed"),)
    before = run(RADIOTHERAPY, rec(procedures=(done,)), lookback=100)
    assert (before.status, before.reason) == (
        "not_met",
        "No prior radiotherapy among 1 procedure reviewed",
    )
    assert before.evidence == (
        Evidence("Procedure?patient=p", 1, None, TODAY, "procedure reviewed on the screening date"),
    )
    down = run(RADIOTHERAPY, rec(unavailable={"Procedure": "HTTP 503"}))
    assert down.reason == "Procedures could not be retrieved (HTTP 503)"


def allergy(codes: frozenset[tuple[str, str]], **kw: object) -> AllergyFact:
    fields: dict[str, object] = {
        "ref": "AllergyIntolerance/a",
        "codes": codes,
        "clinical_status": "active",
        "verification_status": "confirmed",
        "date": day(800),
        "display": "oxaliplatin",
    }
    fields.update(kw)
    return AllergyFact(**fields)  # type: ignore[arg-type]


# The evidence of an allergy record (`allergy(...)`, recorded 800 days ago) that keeps the
# criterion open because its substance cannot be read.
UNREAD_ALLERGY = Evidence(
    "AllergyIntolerance/a", "oxaliplatin", None, day(800).isoformat(), "no readable substance code"
)


def test_allergy_outcomes() -> None:
    met = run(ALLERGY, rec(allergies=(allergy(frozenset({OXALIPLATIN})),)))
    assert (met.status, met.reason) == (
        "met",
        f"Allergy to the therapy: oxaliplatin (recorded {day(800)})",
    )
    assert met.evidence == (
        Evidence("AllergyIntolerance/a", "oxaliplatin", None, day(800).isoformat(), "active"),
    )
    undated = allergy(frozenset({OXALIPLATIN}), date=None, display=None)
    today = run(ALLERGY, rec(allergies=(undated,)))
    assert (today.status, today.reason) == (
        "met",
        f"Allergy to the therapy: AllergyIntolerance/a (recorded {TODAY})",
    )
    assert today.evidence == (Evidence("AllergyIntolerance/a", None, None, TODAY, "active"),)
    for status in ("inactive", "resolved"):
        gone = run(
            ALLERGY, rec(allergies=(allergy(frozenset({OXALIPLATIN}), clinical_status=status),))
        )
        assert (gone.status, gone.reason) == (
            "not_met",
            "No allergy to the therapy among 0 allergy records reviewed",
        )
    for verification in ("refuted", "entered-in-error"):
        refuted = allergy(frozenset({OXALIPLATIN}), verification_status=verification)
        assert run(ALLERGY, rec(allergies=(refuted,))).status == "not_met"
    uncoded = run(ALLERGY, rec(allergies=(allergy(frozenset()),)))
    assert (uncoded.status, uncoded.reason) == (
        "unknown",
        "Allergy to the therapy: AllergyIntolerance/a has no readable substance code (oxaliplatin)",
    )
    # The record that keeps it open is the evidence.
    assert uncoded.evidence == (UNREAD_ALLERGY,)
    textless = run(ALLERGY, rec(allergies=(allergy(frozenset(), display=None),)))
    assert textless.reason.endswith("has no readable substance code (no text)")
    down = run(ALLERGY, rec(unavailable={"AllergyIntolerance": "timeout"}))
    assert down.reason == "Allergies could not be retrieved (timeout)"


# --------------------------------------------------------------------------- coded values
def test_coded_value_outcomes() -> None:
    yes = obs(BREASTFEEDING, coded=(LOINC, "LA33-6"), days=2)
    met = run(FEEDING, rec(yes), lookback=7)
    assert (met.status, met.reason) == ("met", f"Breastfeeding: breastfeeding on {day(2)}")
    assert met.evidence == (Evidence(yes.ref, "LA33-6", None, day(2).isoformat(), "Breastfeeding"),)
    no = obs(BREASTFEEDING, coded=(LOINC, "LA32-8"), days=2)
    assert run(FEEDING, rec(no), lookback=7).reason == (
        f"Breastfeeding: not breastfeeding on {day(2)}"
    )
    odd = obs(BREASTFEEDING, coded=(LOINC, "LA4489-6"), days=2)
    assert run(FEEDING, rec(odd), lookback=7).reason == (
        f"Breastfeeding: answer not one this criterion reads ({odd.ref}, {day(2)})"
    )
    conflicting = dataclasses.replace(
        obs(BREASTFEEDING, days=2),
        value=ObservationValue(codes=frozenset({(LOINC, "LA33-6"), (LOINC, "LA32-8")})),
    )
    result = run(FEEDING, rec(conflicting), lookback=7)
    assert result.reason == f"Breastfeeding: conflicting codes ({conflicting.ref}, {day(2)})"
    none = run(FEEDING, rec(), lookback=7)
    assert none.reason == "Breastfeeding: no result in the last 7 days"


def test_a_coded_value_read_from_interpretation() -> None:
    fact = dataclasses.replace(
        obs(BREASTFEEDING, text="see note", days=2),
        interpretation=frozenset({(LOINC, "LA33-6")}),
    )
    result = run(FEEDING, rec(fact), lookback=7)
    assert result.status == "met"
    assert result.evidence[0].value == "see note"


# --------------------------------------------------------------------------- derived counts
def test_derived_count_unknown_outcomes() -> None:
    wbc = obs(WBC, q=5.0, unit="10*9/L", days=1)
    neut = obs(NEUT, q=60, unit="%", days=3)
    apart = run(DERIVED_ANC, rec(wbc, neut), lookback=28)
    assert apart.reason == (
        f"ANC: {wbc.ref} ({day(1)}) and {neut.ref} ({day(3)}) are not from the same day"
    )
    assert [e.reference for e in apart.evidence] == [wbc.ref, neut.ref]
    bounded = obs(NEUT, q=60, unit="%", comparator="<", days=1)
    result = run(DERIVED_ANC, rec(wbc, bounded), lookback=28)
    assert result.reason == "ANC: a result is reported with a comparator"
    assert [e.reference for e in result.evidence] == [wbc.ref, bounded.ref]
    unitless = obs(WBC, q=5.0, unit="furlongs", days=1)
    bad = run(DERIVED_ANC, rec(unitless, obs(NEUT, q=60, unit="%", days=1)), lookback=28)
    assert bad.reason == "ANC: unit 'furlongs' not recognised"
    low = run(DERIVED_ANC, rec(obs(WBC, q=2.0, unit="10*9/L"), obs(NEUT, q=50, unit="%")))
    assert low.reason == f"ANC 1 10*9/L (derived: 2 × 50% on {day(1)}) < 1.5 10*9/L"
    assert low.evidence[0].value == 2.0
    assert low.evidence[1].note == "derived 1 10*9/L"


# --------------------------------------------------------------------------- attestations
STUDY = ("http://trial-cds-hooks.org/fhir/CodeSystem/screening", "research-study")
CONSENT = ("http://trial-cds-hooks.org/fhir/CodeSystem/screening", "informed-consent-signed")
TRIAL_CONSENT = {
    "type": "attestation",
    "label": "Consent",
    "code_set": "consent_signed",
    "scope": "trial",
    "study_component": "research_study",
}


def signed(
    value: ObservationValue, *, boolean: bool = True, code: tuple[str, str] = STUDY
) -> ObservationFact:
    component = ObservationComponent(frozenset({code}), value)
    return obs(CONSENT, boolean=boolean, components=(component,))


def test_a_trial_attestation_must_name_this_trial() -> None:
    def status(value: ObservationValue, **kw: Any) -> str:
        fact = signed(value, **kw)
        return run(TRIAL_CONSENT, rec(fact), registry="NCT1", lookback=365).status

    assert status(ObservationValue(text=" nct1 ")) == "met"
    assert status(ObservationValue(codes=frozenset({("urn:registry", "nct1")}))) == "met"
    assert status(ObservationValue(text="NCT2")) == "unknown"
    assert status(ObservationValue(codes=frozenset({("urn:registry", "NCT2")}))) == "unknown"
    # The trial named in another component is not the study of the attestation.
    assert status(ObservationValue(text="NCT1"), code=("urn:other", "x")) == "unknown"
    assert status(ObservationValue(text="NCT1"), boolean=False) == "not_met"
    declined = run(
        TRIAL_CONSENT,
        rec(signed(ObservationValue(text="NCT1"), boolean=False)),
        registry="NCT1",
        lookback=365,
    )
    assert declined.reason.startswith("Consent: declined on ")


def test_the_trial_can_be_named_in_any_component() -> None:
    other = ObservationComponent(frozenset({("urn:other", "x")}), ObservationValue(text="NCT2"))
    study = ObservationComponent(frozenset({STUDY}), ObservationValue(text="NCT1"))
    fact = obs(CONSENT, boolean=True, components=(other, study))
    assert run(TRIAL_CONSENT, rec(fact), registry="NCT1", lookback=365).status == "met"


MLH1 = (LOINC, "81691-8")
MLH1_RULE = {
    "type": "coded_value",
    "label": "MLH1",
    "code_set": "mmr_mlh1",
    "component": "mmr_mlh1",
    "met_values": "mmr_intact_values",
    "not_met_values": "mmr_loss_values",
    "met_text": "retained",
    "not_met_text": "lost",
}
RETAINED, LOSS = (LOINC, "LA26197-6"), (LOINC, "LA26198-4")


def mmr_panel(answer: tuple[str, str], *, days: int = 1) -> ObservationFact:
    component = ObservationComponent(frozenset({MLH1}), ObservationValue(codes=frozenset({answer})))
    return obs((LOINC, "85337-4"), components=(component,), days=days)


def test_a_component_answer_ignores_the_panels_interpretation() -> None:
    panel = dataclasses.replace(mmr_panel(LOSS), interpretation=frozenset({RETAINED}))
    result = run(MLH1_RULE, rec(panel), lookback=28)
    assert (result.status, result.reason) == ("not_met", f"MLH1: lost on {day(1)}")
    assert result.evidence == (Evidence(panel.ref, LOSS[1], None, day(1).isoformat(), "MLH1"),)


def test_a_component_rule_without_a_result_says_so() -> None:
    result = run(MLH1_RULE, rec(mmr_panel(LOSS, days=40)), lookback=28)
    assert (result.status, result.reason) == ("unknown", "MLH1: no result in the last 28 days")


def test_an_own_observation_wins_over_a_panel_of_the_same_day() -> None:
    own = obs(MLH1, coded=RETAINED, days=3)
    panel = mmr_panel(LOSS, days=3)
    for order in ((own, panel), (panel, own)):
        result = run(MLH1_RULE, rec(*order), lookback=28)
        assert result.status == "met"
        assert result.evidence[0].reference == own.ref


def test_an_out_of_window_diagnosis_cites_its_record() -> None:
    old = cond(C20, histology=HISTOLOGY, days=400)
    result = diagnose(record(conditions=(old,)), lookback=365)
    assert result.evidence == (Evidence(old.ref, C20[1], None, day(400).isoformat(), None),)


def test_a_condition_dated_after_the_screening_date_is_not_cleared() -> None:
    later = cond(PROSTATE, days=-1)
    for role in ("inclusion", "exclusion"):
        result = run(malignancy(), rec(conditions=(later,)), lookback=1826, role=role)
        assert result.status == "unknown"
        assert result.reason == (
            f"Other malignancy: {later.ref} dated {day(-1)}, after the screening date"
        )
        assert [e.reference for e in result.evidence] == [later.ref]


def test_a_procedure_dated_after_the_screening_date_is_not_cleared() -> None:
    later = ProcedureFact("Procedure/x", frozenset({EBRT}), "completed", day(-2))
    result = run(RADIOTHERAPY, rec(procedures=(later,)), lookback=36500, role="exclusion")
    assert result.status == "unknown"
    assert (
        result.reason
        == f"Prior radiotherapy: Procedure/x dated {day(-2)}, after the screening date"
    )
    assert result.evidence == (
        Evidence("Procedure/x", None, None, day(-2).isoformat(), "completed"),
    )


def test_suspected_sites_cannot_be_counted() -> None:
    suspected = dataclasses.replace(cond(LUNG, verification="provisional"), suspected=True)
    result = run(SITES, rec(conditions=(cond(LIVER), suspected)))
    assert result.status == "unknown"
    assert result.reason == (
        f"Metastatic sites: {suspected.ref} is suspected, not confirmed: the count cannot be "
        "established"
    )
    assert result.evidence == (
        Evidence(suspected.ref, LUNG[1], None, day(60).isoformat(), "suspected, not confirmed"),
    )


def test_a_suspected_condition_is_neither_counted_nor_ignored() -> None:
    suspected = dataclasses.replace(cond(PROSTATE, verification="differential"), suspected=True)
    result = run(malignancy(), rec(conditions=(suspected,)))
    assert result.reason == (
        f"Other malignancy: {suspected.ref} is suspected, not confirmed "
        "(verificationStatus differential)"
    )
    assert result.evidence == (
        Evidence(suspected.ref, PROSTATE[1], None, day(60).isoformat(), "suspected, not confirmed"),
    )
    unstated = dataclasses.replace(suspected, verification_status=None)
    assert run(malignancy(), rec(conditions=(unstated,))).reason.endswith(
        "(verificationStatus not given)"
    )


# --------------------------------------------------------------------------- staging
CT_CATEGORY = ("http://snomed.info/sct", "399504009")
T2, T3, TX = "1228929004", "1228938002", "1222604002"


def staged(*codes: str, text: str | None = None, days: int = 10) -> ObservationFact:
    fact = obs(CT_CATEGORY, days=days, text=text)
    snomed = "http://snomed.info/sct"
    return dataclasses.replace(
        fact,
        value=ObservationValue(codes=frozenset((snomed, c) for c in codes), text=text),
    )


def test_ordered_category_outcomes() -> None:
    from tests.unit.test_rules_generic import stage

    rule = stage("T1", "T3b")
    t2 = staged(T2)
    met = run(rule, rec(t2), lookback=90)
    assert (met.status, met.reason) == ("met", f"cT T2 on {day(10)}, within T1–T3b")
    assert met.evidence == (Evidence(t2.ref, "T2", None, day(10).isoformat(), "cT"),)
    only = run(stage("T2", "T2"), rec(t2), lookback=90)
    assert only.reason == f"cT T2 on {day(10)}, within T2"
    outside = run(stage("T3a", "T4b"), rec(t2), lookback=90)
    assert (outside.status, outside.reason) == ("not_met", f"cT T2 on {day(10)}, not T3a–T4b")
    maybe = run(rule, rec(staged(T3)), lookback=90)
    assert maybe.reason == (
        f"cT T3 on {day(10)} may or may not be within T1–T3b (could be T3a, T3b, T3c, T3d)"
    )
    tx = run(rule, rec(staged(TX)), lookback=90)
    assert (tx.status, tx.reason) == ("unknown", f"cT TX on {day(10)}: not assessable")
    assert [e.value for e in tx.evidence] == ["TX"]
    two = staged(T2, T3)
    several = run(rule, rec(two), lookback=90)
    assert several.reason == f"cT: several categories ({two.ref}, {day(10)})"
    assert several.evidence == (
        Evidence(two.ref, sorted([T2, T3])[0], None, day(10).isoformat(), "cT"),
    )
    text_only = staged(text="T2 probably")
    none = run(rule, rec(text_only), lookback=90)
    assert none.reason == f"cT: not a category on this scale ({text_only.ref}, {day(10)})"
    assert none.evidence == (
        Evidence(text_only.ref, "T2 probably", None, day(10).isoformat(), "cT"),
    )
    missing = run(rule, rec(), lookback=90)
    assert missing.reason == "cT: no result in the last 90 days"


def test_a_medication_without_display_is_named_by_its_code_or_reference() -> None:
    from tests.unit.test_engine_rules import ANTICOAG, APIXABAN, med

    coded = med(APIXABAN)
    result = run(ANTICOAG, rec(medications=(coded,)))
    assert result.reason.startswith(f"Active {APIXABAN[1]}:")


# --------------------------------------------------------------------------- medications
def test_medication_outcomes_cite_each_order() -> None:
    from tests.unit.test_engine_rules import ANTICOAG, APIXABAN, med
    from tests.unit.test_rules_generic import NIVOLUMAB, PRIOR_ICI

    active = med(APIXABAN, display="apixaban 5 mg")
    result = run(ANTICOAG, rec(medications=(active, med(APIXABAN, display="apixaban 5 mg"))))
    assert result.reason == "Active apixaban 5 mg: must be stopped 7–14 days before surgery"
    assert result.evidence[0] == Evidence(
        active.ref, "apixaban 5 mg", None, day(30).isoformat(), "active"
    )
    assert len(result.evidence) == 2

    given = med(NIVOLUMAB, status="completed", display="nivolumab")
    met = run(PRIOR_ICI, rec(medications=(given,)), lookback=36500)
    assert met.reason == (
        f"Prior immune checkpoint inhibitor: nivolumab (MedicationRequest completed on {day(30)})"
    )
    assert met.evidence == (
        Evidence(given.ref, "nivolumab", None, day(30).isoformat(), "completed"),
    )
    before = run(PRIOR_ICI, rec(medications=(given,)), lookback=10)
    assert before.reason == (
        f"Prior immune checkpoint inhibitor: only nivolumab on {day(30)}, before the 10-day window"
    )
    assert before.evidence == met.evidence
    undated = dataclasses.replace(given, date=None)
    unknown = run(PRIOR_ICI, rec(medications=(undated,)), lookback=36500)
    assert unknown.reason == (
        "Prior immune checkpoint inhibitor: nivolumab on record without a date"
    )
    assert unknown.evidence == (Evidence(given.ref, "nivolumab", None, None, "completed"),)
    uncoded = dataclasses.replace(given, codes=frozenset())
    unreadable = run(PRIOR_ICI, rec(medications=(uncoded,)), lookback=36500)
    assert unreadable.reason == (
        f"Prior immune checkpoint inhibitor: {given.ref} has no readable medication code"
    )
    assert unreadable.evidence == (
        Evidence(given.ref, "nivolumab", None, day(30).isoformat(), "completed"),
    )
    none = run(PRIOR_ICI, rec(), lookback=36500)
    assert none.reason == (
        "No prior immune checkpoint inhibitor among 0 medication records reviewed"
    )
    down = run(PRIOR_ICI, rec(unavailable={"MedicationRequest": "HTTP 500"}), lookback=36500)
    assert (down.status, down.reason) == (
        "unknown",
        "Medications could not be retrieved (HTTP 500)",
    )


def test_a_type_not_retrieved_stops_a_clear_but_not_a_finding() -> None:
    from tests.unit.test_engine_rules import ANTICOAG, APIXABAN, med
    from tests.unit.test_rules_generic import NIVOLUMAB, PRIOR_ICI

    down = {"MedicationDispense": "HTTP 400: unsupported resource type"}
    given = med(NIVOLUMAB, status="completed", display="nivolumab")
    found = run(PRIOR_ICI, rec(medications=(given,), unavailable=down), lookback=36500)
    assert (found.status, found.evidence[0].reference) == ("met", given.ref)
    cleared = run(PRIOR_ICI, rec(unavailable=down), lookback=36500)
    assert (cleared.status, cleared.reason) == (
        "unknown",
        "Medications could not be retrieved (HTTP 400: unsupported resource type)",
    )
    none_active = run(ANTICOAG, rec(unavailable=down))
    assert none_active.status == "unknown"
    assert none_active.reason.startswith("Medications could not be retrieved")
    running = med(APIXABAN, display="apixaban 5 mg")
    active = run(ANTICOAG, rec(medications=(running,), unavailable=down))
    assert active.status == "unknown"
    assert active.reason.startswith("Active apixaban 5 mg: ")
    assert active.reason.endswith(
        "; medications could not be retrieved (HTTP 400: unsupported resource type)"
    )
    assert active.evidence[0].reference == running.ref


def test_a_drug_named_only_in_text_may_be_given() -> None:
    from tests.unit.test_engine_rules import ANTICOAG, APIXABAN, med

    maybe = dataclasses.replace(
        med(APIXABAN, display="Eliquis"),
        codes=frozenset({("urn:local", "X1")}),
        possible_drugs=("apixaban",),
        possible_codes=frozenset({APIXABAN}),
    )
    result = run(ANTICOAG, rec(medications=(maybe,)))
    assert result.reason == (
        f"anticoagulant or antiplatelet: {maybe.ref} may be apixaban; code not recognised"
    )
    assert result.evidence == (Evidence(maybe.ref, "Eliquis", None, day(30).isoformat(), "active"),)


def test_a_trial_scoped_attestation_without_a_study_component_is_never_met() -> None:
    rule = {k: v for k, v in TRIAL_CONSENT.items() if k != "study_component"}
    fact = signed(ObservationValue(text="NCT1"))
    result = run(rule, rec(fact), registry="NCT1", lookback=365)
    assert (result.status, result.reason) == (
        "unknown",
        "Consent: needs confirmation by the study team",
    )
    nothing = run(TRIAL_CONSENT, rec(), registry="NCT1", lookback=365)
    assert nothing.reason == "Consent: needs confirmation by the study team"


def test_clears_name_the_search_behind_them() -> None:
    from tests.unit.test_engine_rules import ANTICOAG, APIXABAN, med
    from tests.unit.test_rules_generic import PRIOR_ICI

    allergies = run(ALLERGY, rec())
    assert allergies.evidence == (
        Evidence(
            "AllergyIntolerance?patient=p",
            0,
            None,
            TODAY,
            "allergy records reviewed on the screening date",
        ),
    )
    meds = run(PRIOR_ICI, rec(), lookback=36500)
    assert meds.evidence == (
        Evidence(
            "MedicationRequest?patient=p",
            0,
            None,
            TODAY,
            "medication records reviewed on the screening date",
        ),
    )
    none_active = run(ANTICOAG, rec())
    assert none_active.evidence == (
        Evidence(
            "MedicationRequest?patient=p&status=active",
            0,
            None,
            TODAY,
            "active medication list reviewed on the screening date",
        ),
    )
    two = run(
        ANTICOAG,
        rec(medications=(med(APIXABAN, display="apixaban"), med(("x", "y"), display="warfarin"))),
    )
    assert two.reason.startswith("Active apixaban:")
    both = (
        med(APIXABAN, display="apixaban"),
        med(("http://www.whocc.no/atc", "B01AA03"), display="warfarin"),
    )
    assert run(ANTICOAG, rec(medications=both)).reason.startswith("Active apixaban, warfarin:")


def test_an_active_only_history_without_dates() -> None:
    from tests.unit.test_engine_rules import med

    rule = {
        "type": "medication_history",
        "label": "Active immunosuppressant",
        "medication_code_sets": ["immunosuppressants"],
        "active_only": True,
        "absence": "not_met",
    }
    undated = dataclasses.replace(
        med(("http://www.nlm.nih.gov/research/umls/rxnorm", "42316"), display="tacrolimus"),
        date=None,
    )
    result = run(rule, rec(medications=(undated,)))
    # Active now, but undated: the engine's safety net will not let it be met.
    assert (result.status, result.reason) == (
        "unknown",
        "Active immunosuppressant: tacrolimus (MedicationRequest active) (no dated evidence)",
    )


def test_an_undated_procedure_cites_its_name() -> None:
    undated = ProcedureFact("Procedure/z", frozenset({EBRT}), "completed", None, display="EBRT")
    result = run(RADIOTHERAPY, rec(procedures=(undated,)))
    assert result.evidence == (Evidence("Procedure/z", "EBRT", None, None, "completed"),)
    later = ProcedureFact("Procedure/x", frozenset({EBRT}), "completed", day(-2), display="EBRT")
    future = run(RADIOTHERAPY, rec(procedures=(later,)))
    assert future.evidence == (
        Evidence("Procedure/x", "EBRT", None, day(-2).isoformat(), "completed"),
    )


def test_silence_that_is_no_clear_says_who_decides() -> None:
    result = run(malignancy(absence="unknown"), rec())
    assert (result.status, result.reason, result.evidence) == (
        "unknown",
        "No other malignancy among 0 conditions reviewed; absence from the record is not proof "
        "(needs the study team)",
        (),
    )
