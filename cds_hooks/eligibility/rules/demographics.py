"""Rules on the Patient resource: age, sex and a recorded death."""

from __future__ import annotations

from datetime import timedelta

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.rules.base import MET, NOT_MET, UNKNOWN, Evidence, Outcome
from cds_hooks.eligibility.rules.registry import rule
from cds_hooks.trials.params import AgeRange, Deceased, Sex
from fhir_mappings.derived import age_in_years

# The longest verified human life is 122 years; an older age is a placeholder birth date.
OLDEST_PLAUSIBLE_AGE = 122


def age_range(p: AgeRange, s: Screening, window: Window) -> Outcome:
    label = p.label
    patient = s.record.patient
    if patient.birth_date is None:
        why = patient.problem or "no birth date on record"
        return Outcome(UNKNOWN, f"{label}: {why}")
    low, high = p.min, p.max
    limits = f"{low}–{high}" if high is not None else f"≥ {low}"
    birth = patient.birth_date
    if birth > s.as_of:
        # Born after the screening day: a data error (or a placeholder), not an age.
        return Outcome(
            UNKNOWN, f"{label}: birthDate {birth.isoformat()} is after the screening date"
        )
    if age_in_years(birth, s.as_of) > OLDEST_PLAUSIBLE_AGE:
        # Older than anyone has lived: a placeholder birth date (1850-01-01, 1900-01-01).
        return Outcome(
            UNKNOWN,
            f"{label}: birthDate {birth.isoformat()} gives an implausible age "
            f"(over {OLDEST_PLAUSIBLE_AGE})",
        )
    if patient.birth_date_precision == "day":
        youngest = oldest = age_in_years(birth, s.as_of)
        shown = birth.isoformat()
    else:
        # A partial birthDate allows a range of ages; decide only if all of them agree.
        last_day = (
            birth.replace(year=birth.year + 1)
            if patient.birth_date_precision == "year"
            else (birth.replace(day=28) + timedelta(days=4)).replace(day=1)
        ) - timedelta(days=1)
        oldest, youngest = age_in_years(birth, s.as_of), age_in_years(last_day, s.as_of)
        shown = birth.isoformat()[: 4 if patient.birth_date_precision == "year" else 7]
    evidence = (
        Evidence(
            patient.ref,
            oldest if oldest == youngest else f"{youngest}–{oldest}",
            "a",
            shown,
            "age in completed years on the screening date",
        ),
    )
    text = f"{oldest}" if oldest == youngest else f"{youngest}–{oldest} (birth date {shown})"
    top = high if high is not None else oldest
    if low <= youngest and oldest <= top:
        within = f"within {limits}" if high is not None else limits
        return Outcome(MET, f"{label} {text}, {within}", evidence)
    if oldest < low or (high is not None and youngest > high):
        return Outcome(NOT_MET, f"{label} {text} is outside {limits}", evidence)
    return Outcome(
        UNKNOWN, f"{label} {text}: partial birth date straddles the {limits} limit", evidence
    )


def sex(p: Sex, s: Screening, window: Window) -> Outcome:
    patient = s.record.patient
    if patient.gender not in ("male", "female"):
        return Outcome(
            UNKNOWN, f"{p.label}: administrative sex is {patient.gender or 'not recorded'}"
        )
    # Administrative gender dated by the birth date: it proves what the record says today.
    evidence = (
        Evidence(
            patient.ref,
            patient.gender,
            None,
            patient.birth_date.isoformat() if patient.birth_date else s.as_of.isoformat(),
            "administrative gender",
        ),
    )
    if patient.gender == p.sex:
        return Outcome(MET, f"{p.label}: {patient.gender}", evidence)
    return Outcome(NOT_MET, f"{p.label}: not applicable ({patient.gender})", evidence)


def deceased(p: Deceased, s: Screening, window: Window) -> Outcome:
    """met when the Patient resource records a death; a death dated after the screening
    date is unknown (a data error, or a screening as of an earlier day)."""
    patient = s.record.patient
    today = s.as_of.isoformat()
    if not patient.deceased and patient.deceased_problem is not None:
        return Outcome(UNKNOWN, f"{p.label}: {patient.deceased_problem}")
    if not patient.deceased:
        return Outcome(
            NOT_MET,
            f"{p.label}: no death recorded on the Patient resource",
            (Evidence(patient.ref, None, None, today, "Patient.deceased[x] absent or false"),),
        )
    died = patient.deceased_date
    if died is None:
        # deceasedBoolean, or a deceasedDateTime we cannot read: the record says so today.
        return Outcome(
            MET,
            f"{p.label}: the Patient resource records a death (no readable date)",
            (Evidence(patient.ref, "deceased", None, today, "Patient.deceased[x]"),),
        )
    evidence = (Evidence(patient.ref, "deceased", None, died.isoformat(), "deceasedDateTime"),)
    if died > s.as_of:
        return Outcome(
            UNKNOWN,
            f"{p.label}: death recorded on {died.isoformat()}, after the screening date",
            evidence,
        )
    return Outcome(MET, f"{p.label}: death recorded on {died.isoformat()}", evidence)


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(AgeRange)(age_range)
rule(Deceased)(deceased)
rule(Sex)(sex)
