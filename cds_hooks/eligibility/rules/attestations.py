"""What a person confirms: attestations (scoped to one trial where the definition says so),
the pregnancy / contraception requirement, and criteria only the study team can decide."""

from __future__ import annotations

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.results import Status
from cds_hooks.eligibility.rules.base import (
    MET,
    NOT_MET,
    UNKNOWN,
    Outcome,
    cond_evidence,
    day,
    join,
    obs_evidence,
    shown,
)
from cds_hooks.eligibility.rules.registry import rule
from cds_hooks.eligibility.values import Undecidable, compare, fmt, read_number
from cds_hooks.trials.params import Attestation, PregnancyContraception, StudyTeam
from fhir_mappings.facts import COUNTED_OBSERVATION_STATUSES, ObservationFact


def _names_trial(fact: ObservationFact, s: Screening, component_set: str | None) -> bool:
    if component_set is None or not s.trial:
        return False
    wanted = s.trial.strip().upper()
    study = s.code_set(component_set)
    for component in fact.components:
        if not study.matches(component.codes):
            continue
        value = component.value
        if value.text is not None and value.text.strip().upper() == wanted:
            return True
        if any(code.strip().upper() == wanted for _, code in value.codes):
            return True
    return False


def _trial_attestation(p: Attestation, s: Screening, window: Window) -> ObservationFact | None:
    for fact in s.observations.get(p.code_set, ()):  # newest first
        if (
            fact.status in COUNTED_OBSERVATION_STATUSES
            and fact.problem is None
            and fact.date is not None
            and window.contains(fact.date)
            and fact.value.boolean is not None
            and _names_trial(fact, s, p.study_component)
        ):
            return fact
    return None


def attestation(p: Attestation, s: Screening, window: Window) -> Outcome:
    label = p.label
    if p.scope == "trial":
        fact = _trial_attestation(p, s, window)
    else:
        fact = s.latest_single(p.code_set, window).fact
    if fact is not None and fact.value.boolean is not None:
        evidence = (obs_evidence(fact),)
        if fact.value.boolean:
            return Outcome(MET, f"{label}: confirmed on {day(fact)}", evidence)
        return Outcome(NOT_MET, f"{label}: declined on {day(fact)}", evidence)
    return Outcome(UNKNOWN, f"{label}: needs confirmation by the study team")


def study_team(p: StudyTeam, s: Screening, window: Window) -> Outcome:
    return Outcome(UNKNOWN, f"Needs the study team: {p.reason}")


def pregnancy_contraception(p: PregnancyContraception, s: Screening, window: Window) -> Outcome:
    patient = s.record.patient
    agreement = attestation(
        Attestation(
            type="attestation",
            label="Contraception agreement",
            code_set=p.contraception,
            scope="any",
        ),
        s,
        window,
    )
    # A positive test on record excludes whatever the administrative sex says (a data
    # error, or a patient whose recorded sex is not female who is pregnant).
    tested = _pregnancy(p, s)
    if patient.gender == "female" or tested.status == NOT_MET:
        pregnancy = tested
    elif patient.gender == "male":
        pregnancy = Outcome(MET, "Pregnancy test not applicable (male)")
    elif tested.status == MET:
        pregnancy = tested  # a negative test meets the requirement whoever it applies to
    else:
        pregnancy = Outcome(
            UNKNOWN,
            f"Administrative sex {patient.gender or 'not recorded'}: pregnancy test "
            "requirement unclear",
        )
    if NOT_MET in (pregnancy.status, agreement.status):
        return join(NOT_MET, [o for o in (pregnancy, agreement) if o.status == NOT_MET])
    if pregnancy.status == MET and agreement.status == MET:
        return join(MET, [pregnancy, agreement])
    return join(UNKNOWN, [pregnancy, agreement])


def _pregnancy(p: PregnancyContraception, s: Screening) -> Outcome:
    test_window = Window(s.as_of, p.test_lookback_days)
    positive, negative = s.code_set(p.positive_values), s.code_set(p.negative_values)
    pregnant, not_pregnant = s.code_set(p.pregnant_values), s.code_set(p.not_pregnant_values)
    results: list[tuple[ObservationFact, Status]] = []  # status of "not pregnant"
    conflicting: list[ObservationFact] = []  # value and interpretation disagree
    # Why a search found nothing that counts, when it found something ("a preliminary
    # result on ... does not count"): the person confirming must see it.
    held_back: list[str] = []
    for name in (p.pregnancy_test, p.pregnancy_status):
        candidate = s.latest_single(name, test_window)
        fact = candidate.fact
        if fact is None:
            if "; " in candidate.reason:
                held_back.append(candidate.reason.split("; ", 1)[1])
            continue
        codes = fact.value.codes | fact.interpretation
        says_pregnant = positive.matches(codes) or pregnant.matches(codes)
        says_not = negative.matches(codes) or not_pregnant.matches(codes)
        if says_pregnant and says_not:
            conflicting.append(fact)
        elif says_pregnant:
            results.append((fact, NOT_MET))
        elif says_not:
            results.append((fact, MET))
    hcg = s.latest_single(p.hcg_quantitative, test_window).fact
    unclear: Outcome | None = None
    if hcg is not None:
        negative_below, positive_from = p.hcg_negative_below, p.hcg_positive_from
        try:
            reading = read_number(hcg.value, "m[IU]/mL", s.code_set(p.hcg_quantitative))
        except Undecidable as exc:
            unclear = Outcome(UNKNOWN, f"hCG {hcg.ref}: {exc}", (obs_evidence(hcg),))
        else:
            if compare(reading.value, reading.comparator, "<", negative_below) == MET:
                results.append((hcg, MET))
            elif compare(reading.value, reading.comparator, ">=", positive_from) == MET:
                results.append((hcg, NOT_MET))
            else:
                # Between the negative and positive cut-offs (or an interval straddling
                # one): neither excludes nor confirms pregnancy; needs a repeat test.
                unclear = Outcome(
                    UNKNOWN,
                    f"hCG {shown(reading)} on {day(hcg)} is indeterminate "
                    f"({fmt(negative_below)}–{fmt(positive_from)} m[IU]/mL)",
                    (obs_evidence(hcg, reading),),
                )
    positives = [f for f, st in results if st == NOT_MET]
    if positives:
        f = positives[0]
        return Outcome(NOT_MET, f"Positive pregnancy test on {day(f)}", (obs_evidence(f),))
    menopause = [c for c in s.conditions(p.postmenopausal) if c.date]
    if menopause:
        return Outcome(
            MET, f"Post-menopausal (recorded {day(menopause[0])})", (cond_evidence(menopause[0]),)
        )
    if conflicting:
        f = conflicting[0]
        return Outcome(
            UNKNOWN,
            f"Pregnancy test {f.ref} on {day(f)}: its value and interpretation disagree",
            tuple(obs_evidence(x) for x in conflicting),
        )
    if unclear is not None:
        # An indeterminate hCG outweighs a negative qualitative test in the same week.
        return unclear
    negatives = [f for f, st in results if st == MET]
    if negatives:
        f = negatives[0]
        return Outcome(MET, f"Negative pregnancy test on {day(f)}", (obs_evidence(f),))
    return Outcome(
        UNKNOWN,
        f"No pregnancy test in the last {test_window.days} days and no "
        "post-menopausal status on record"
        + "".join(f"; {why}" for why in dict.fromkeys(held_back)),
    )


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(Attestation)(attestation)
rule(StudyTeam)(study_team)
rule(PregnancyContraception)(pregnancy_contraception)
