"""Medication, procedure and allergy history: what the patient takes, was given or
reacts to, by class (code sets), inside a window."""

from __future__ import annotations

from datetime import timedelta

from cds_hooks.eligibility.context import Screening, Window
from cds_hooks.eligibility.rules.base import (
    MET,
    UNKNOWN,
    Evidence,
    Outcome,
    absent,
    day,
    lower_first,
    not_confirmed,
    not_read,
    unreadable,
    unusable,
    unusable_outcome,
    verification_unread,
)
from cds_hooks.eligibility.rules.registry import rule
from cds_hooks.trials.params import (
    Allergy,
    MedicationHistory,
    NoActiveMedication,
    ProcedureHistory,
)
from fhir_mappings.facts import AllergyFact, MedicationFact, ProcedureFact
from fhir_mappings.medications import MEDICATION_TYPES
from fhir_mappings.terminology import CodeSet

ACTIVE_REQUEST_STATUSES = frozenset({"active", "on-hold"})
ACTIVE_STATEMENT_STATUSES = frozenset({"active", "intended", "on-hold"})
# Orders and statements that say the drug was (or is being) given.
GIVEN_REQUEST_STATUSES = frozenset({"active", "on-hold", "completed", "stopped"})
GIVEN_STATEMENT_STATUSES = frozenset({"active", "on-hold", "completed", "stopped", "intended"})
# An administration in progress is running now; completed, stopped or paused, it was given.
ACTIVE_ADMINISTRATION_STATUSES = frozenset({"in-progress", "on-hold"})
GIVEN_ADMINISTRATION_STATUSES = frozenset({"in-progress", "on-hold", "completed", "stopped"})
# A dispense says what a pharmacy handed over (wholly, or in part when stopped): given,
# but never that the patient still takes it.
GIVEN_DISPENSE_STATUSES = frozenset({"completed", "stopped"})
# How long a dispense without a daysSupply may still be being taken: the longest supply
# pharmacies commonly hand over.
DEFAULT_SUPPLY_DAYS = 90
NON_ORDER_INTENTS = frozenset({"proposal", "option", "plan"})
DONE_PROCEDURE_STATUSES = frozenset({"completed", "in-progress", "stopped"})
NOT_COUNTED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
INACTIVE_ALLERGY = frozenset({"inactive", "resolved"})


def _medications_unavailable(s: Screening) -> Outcome | None:
    for resource_type in sorted(MEDICATION_TYPES):
        if (why := s.unavailable(resource_type)) is not None:
            return Outcome(UNKNOWN, f"Medications could not be retrieved ({why})")
    return None


def _active(m: MedicationFact) -> bool:
    if m.resource_type == "MedicationRequest":
        return m.status in ACTIVE_REQUEST_STATUSES and m.intent not in NON_ORDER_INTENTS
    if m.resource_type == "MedicationAdministration":
        return m.status in ACTIVE_ADMINISTRATION_STATUSES
    if m.resource_type == "MedicationDispense":
        return False
    return m.status in ACTIVE_STATEMENT_STATUSES


def _given(m: MedicationFact) -> bool:
    if m.resource_type == "MedicationRequest":
        return m.status in GIVEN_REQUEST_STATUSES and m.intent not in NON_ORDER_INTENTS
    if m.resource_type == "MedicationAdministration":
        return m.status in GIVEN_ADMINISTRATION_STATUSES
    if m.resource_type == "MedicationDispense":
        return m.status in GIVEN_DISPENSE_STATUSES
    return m.status in GIVEN_STATEMENT_STATUSES


def _says_nothing(status: str | None) -> bool:
    """A status that says neither done nor not done: "unknown", or none at all."""
    return status is None or status == "unknown"


def _unclear(m: MedicationFact) -> str | None:
    """Why a record of a drug can neither count nor be ignored: its status says nothing
    ("unknown", or none at all). A proposal, plan or option is not an order, whatever its
    status: it neither counts nor keeps a rule open."""
    if m.resource_type == "MedicationRequest" and m.intent in NON_ORDER_INTENTS:
        return None
    if _says_nothing(m.status):
        return f"status {m.status or 'not given'}"
    return None


def _unclear_outcome(label: str, unclear: list[MedicationFact], what: str) -> Outcome:
    m = unclear[0]
    return Outcome(
        UNKNOWN,
        f"{label}: {_name(m)} ({m.resource_type}, {_unclear(m)}): {what}",
        tuple(_evidence(x) for x in unclear),
    )


def _supplied(m: MedicationFact, window: Window) -> bool:
    """A dispense whose supply may last to the screening day: the patient may still be
    taking it, which neither a current order nor its absence can settle."""
    if m.resource_type != "MedicationDispense" or m.status not in GIVEN_DISPENSE_STATUSES:
        return False
    if m.date is None or m.date > window.as_of:
        return False
    days = DEFAULT_SUPPLY_DAYS if m.supply_days is None else m.supply_days
    return (window.as_of - m.date).days <= days


def _dispensed(m: MedicationFact) -> str:
    # Absent, 0, or not a duration ("30 tablets"): the reader keeps none of them.
    supply = (
        f"no usable days' supply: {DEFAULT_SUPPLY_DAYS} days assumed"
        if m.supply_days is None
        else f"{m.supply_days} days' supply"
    )
    return f"{_name(m)} dispensed on {day(m)} ({supply}); whether it is still taken is not recorded"


def _name(m: MedicationFact) -> str:
    return m.display or (sorted(m.codes)[0][1] if m.codes else m.ref)


def _evidence(x: MedicationFact | ProcedureFact) -> Evidence:
    """A drug or procedure as evidence: what, when and its status."""
    return Evidence(x.ref, x.display, None, day(x), x.status)


def _possibly(
    meds: list[MedicationFact], hits: list[MedicationFact], code_sets: list[CodeSet], label: str
) -> Outcome | None:
    """Unknown when a record's code is not one we know but its text names a drug of the
    classes ("may be apixaban; code not recognised"): never read as "none"."""
    maybe = [
        m for m in meds if m not in hits and any(cs.matches(m.possible_codes) for cs in code_sets)
    ]
    if not maybe:
        return None
    first = maybe[0]
    return Outcome(
        UNKNOWN,
        f"{label}: {first.ref} may be {', '.join(first.possible_drugs)}; code not recognised",
        tuple(_evidence(m) for m in maybe),
    )


def _unread_medication(m: MedicationFact) -> str:
    if not m.codes:
        return f"{m.ref} has no readable medication code"
    if m.unplaced:
        return _unplaced(m, "drug")
    return not_read(m.ref, m.codes, "medication ", _name(m))


def _unplaced(x: MedicationFact | AllergyFact, name: str) -> str:
    """Why an order or allergy coded only by unplaced RxNorm codes decides nothing."""
    codes = ", ".join(code for _, code in sorted(x.codes))
    return (
        f"{x.ref} is coded only as RxNorm {codes}, with no {name} name, and the drug list "
        "does not hold that code: which drug it is cannot be told"
    )


def _unidentified(x: MedicationFact | AllergyFact, code_sets: list[CodeSet]) -> bool:
    """Whether the drug of an order or allergy cannot be told against `code_sets`: coded
    only in systems they do not name, or only by unnamed RxNorm codes the drug list does
    not place (`unplaced`) and none of the sets holds."""
    if x.unplaced:
        return not any(cs.matches(x.codes) for cs in code_sets)
    return unreadable(x.codes, code_sets)


def no_active_medication(p: NoActiveMedication, s: Screening, window: Window) -> Outcome:
    """With one medication type not retrieved, "none active" cannot be said; a drug found
    active in the others is still named (the answer is unknown either way)."""
    outcome = _no_active_medication(p, s, window)
    if (failed := _medications_unavailable(s)) is None:
        return outcome
    if outcome.status == MET:
        return failed
    return Outcome(UNKNOWN, f"{outcome.reason}; {lower_first(failed.reason)}", outcome.evidence)


def _no_active_medication(p: NoActiveMedication, s: Screening, window: Window) -> Outcome:
    code_sets = [s.code_set(n) for n in p.medication_code_sets]
    active = [m for m in s.record.medications if _active(m) or _supplied(m, window)]
    # A record that may be running (status unknown) and cannot be read may be one too.
    unresolved = [
        m
        for m in s.record.medications
        if (m in active or _unclear(m)) and _unidentified(m, code_sets)
    ]
    hits = [m for m in active if any(cs.matches(m.codes) for cs in code_sets)]
    running = [m for m in hits if _active(m)]
    if running:
        names = ", ".join(dict.fromkeys(_name(m) for m in running))
        return Outcome(UNKNOWN, f"Active {names}: {p.why}", tuple(_evidence(m) for m in hits))
    if hits:
        return Outcome(
            UNKNOWN, f"{_dispensed(hits[0])}: {p.why}", tuple(_evidence(m) for m in hits)
        )
    unclear = [
        m
        for m in s.record.medications
        if _unclear(m) and any(cs.matches(m.codes) for cs in code_sets)
    ]
    if unclear:
        return _unclear_outcome(p.label, unclear, "whether it is taken now is not recorded")
    if (maybe := _possibly(active, hits, code_sets, p.label)) is not None:
        return maybe
    if unresolved:
        return Outcome(
            UNKNOWN,
            _unread_medication(unresolved[0]),
            tuple(_evidence(m) for m in unresolved),
        )
    if skipped := unusable(s, "MedicationRequest"):
        return unusable_outcome(f"No active {p.label} among those read", skipped)
    patient_id = s.record.patient.ref.split("/", 1)[1]
    evidence = (
        Evidence(
            f"MedicationRequest?patient={patient_id}&status=active",
            len(active),
            None,
            s.as_of.isoformat(),
            "active medication list reviewed on the screening date",
        ),
    )
    return Outcome(
        MET,
        f"No active {p.label} among {len(active)} active "
        f"medication{'s' if len(active) != 1 else ''}",
        evidence,
    )


def medication_history(p: MedicationHistory, s: Screening, window: Window) -> Outcome:
    """met: a medication of the classes active now (`active_only`) or given inside the
    window. A matching record without a date, or a record whose drug cannot be read, is
    unknown: it may be the one that decides. With one medication type not retrieved,
    only a drug found in the others decides (met); nothing else can be concluded."""
    outcome = _medication_history(p, s, window)
    if (failed := _medications_unavailable(s)) is None or outcome.status == MET:
        return outcome
    return failed


def _medication_history(p: MedicationHistory, s: Screening, window: Window) -> Outcome:
    code_sets = [s.code_set(n) for n in p.medication_code_sets]
    counted = [m for m in s.record.medications if (_active(m) if p.active_only else _given(m))]
    hits = [m for m in counted if any(cs.matches(m.codes) for cs in code_sets)]
    later = [m for m in hits if m.date is not None and m.date > window.as_of]
    inside = [
        m
        for m in hits
        if (p.active_only and m not in later) or (m.date is not None and window.contains(m.date))
    ]
    if inside and p.min_days_active is not None:
        since = window.as_of - timedelta(days=p.min_days_active)
        long_term = [m for m in inside if m.date is not None and m.date <= since]
        if not long_term:
            m = inside[0]
            started = f"since {day(m)}" if m.date else "with no start date"
            return Outcome(
                UNKNOWN,
                f"{p.label}: {_name(m)} ({m.resource_type} {m.status}) {started}, not yet "
                f"{p.min_days_active} days: whether it is long-term is not recorded",
                tuple(_evidence(x) for x in inside),
            )
        inside = long_term
    if inside:
        m = inside[0]
        when = f" on {day(m)}" if m.date else ""
        return Outcome(
            MET,
            f"{p.label}: {_name(m)} ({m.resource_type} {m.status}{when})",
            tuple(_evidence(x) for x in inside),
        )
    unclear = [
        m
        for m in s.record.medications
        if _unclear(m)
        and any(cs.matches(m.codes) for cs in code_sets)
        and (p.active_only or m.date is None or window.contains(m.date))
    ]
    if unclear:
        what = "whether it is taken now" if p.active_only else "whether it was given"
        return _unclear_outcome(p.label, unclear, f"{what} is not recorded")
    if p.active_only:
        supplied = [
            m
            for m in s.record.medications
            if _supplied(m, window) and any(cs.matches(m.codes) for cs in code_sets)
        ]
        if supplied:
            return Outcome(
                UNKNOWN,
                f"{p.label}: {_dispensed(supplied[0])}",
                tuple(_evidence(m) for m in supplied),
            )
    undated = [m for m in hits if m.date is None]
    if undated:
        return Outcome(
            UNKNOWN,
            f"{p.label}: {_name(undated[0])} on record without a date",
            tuple(_evidence(m) for m in undated),
        )
    if later:
        # On record but dated after the screening date (a clock or time-zone slip): neither
        # evidence inside the window nor proof that it was not given.
        m = later[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {_name(m)} dated {day(m)}, after the screening date",
            tuple(_evidence(x) for x in later),
        )
    possible = [
        m
        for m in s.record.medications
        if (m in counted or _unclear(m))
        and (p.active_only or m.date is None or window.contains(m.date))
    ]
    if (maybe := _possibly(possible, hits, code_sets, p.label)) is not None:
        return maybe
    # Only one that could count: given inside the window, or undated.
    unread = [m for m in possible if _unidentified(m, code_sets)]
    if unread:
        return Outcome(
            UNKNOWN,
            f"{p.label}: {_unread_medication(unread[0])}",
            tuple(_evidence(m) for m in unread),
        )
    what = lower_first(p.label)
    outcome = absent(s, p.absence, "MedicationRequest", len(counted), what, "medication record")
    if hits and outcome.status != UNKNOWN:
        # Given before the window: dated evidence that it is outside, not silence.
        older = hits[0]
        return Outcome(
            outcome.status,
            f"{p.label}: only {_name(older)} on {day(older)}, before the {window.days}-day window",
            (_evidence(older),),
        )
    return outcome


def procedure_history(p: ProcedureHistory, s: Screening, window: Window) -> Outcome:
    if (why := s.unavailable("Procedure")) is not None:
        return Outcome(UNKNOWN, f"Procedures could not be retrieved ({why})")
    code_sets = [s.code_set(n) for n in p.procedure_code_sets]
    done = [x for x in s.record.procedures if x.status in DONE_PROCEDURE_STATUSES]
    hits = [x for x in done if any(cs.matches(x.codes) for cs in code_sets)]
    inside = [x for x in hits if x.date is not None and window.contains(x.date)]
    if inside:
        x = inside[0]
        return Outcome(
            MET,
            f"{p.label}: {x.display or x.ref} on {day(x)} ({x.status})",
            tuple(_evidence(h) for h in inside),
        )
    undated = [x for x in hits if x.date is None]
    if undated:
        return Outcome(
            UNKNOWN,
            f"{p.label}: {undated[0].display or undated[0].ref} on record without a date",
            tuple(_evidence(h) for h in undated),
        )
    later = [x for x in hits if x.date is not None and x.date > s.as_of]
    if later:
        # Done, yet dated after the screening date: on record, so not proof of absence.
        x = later[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {x.display or x.ref} dated {day(x)}, after the screening date",
            tuple(_evidence(h) for h in later),
        )
    uncertain_sets = [s.code_set(n) for n in p.uncertain_code_sets]
    read_sets = [*code_sets, *uncertain_sets]  # the code systems the rule can read
    # Done, not a hit, and not dated before the window: what may still be one.
    undecided = [x for x in done if x not in hits and (x.date is None or x.date >= window.start)]
    uncertain = [x for x in undecided if any(cs.matches(x.codes) for cs in uncertain_sets)]
    if uncertain:
        x = uncertain[0]
        why = "; ".join(cs.description for cs in uncertain_sets if cs.matches(x.codes))
        return Outcome(
            UNKNOWN,
            f"{p.label}: {x.display or x.ref}{f' on {day(x)}' if x.date else ''} may be one "
            f"({why})",
            tuple(_evidence(h) for h in uncertain),
        )
    # Its words name one ("Intensity modulated radiation therapy") under a code the sets do
    # not hold (a SNOMED CT child concept, a local code): it may be one.
    named = [
        x
        for x in undecided
        if any(cs.named_in(x.display) for cs in code_sets)
        and not unreadable(x.codes, read_sets)  # those are named below, as unreadable
    ]
    if named:
        x = named[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {x.ref} ({x.display}) may be one; its code is not in the list",
            tuple(_evidence(h) for h in named),
        )
    unread = [x for x in done if unreadable(x.codes, read_sets)]
    if unread:
        x = unread[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {not_read(x.ref, x.codes, 'procedure ', x.display)}",
            tuple(_evidence(h) for h in unread),
        )
    # A status that says nothing ("unknown", or none): it may have been done.
    unclear = [
        x
        for x in s.record.procedures
        if _says_nothing(x.status)
        and any(cs.matches(x.codes) for cs in code_sets)
        and (x.date is None or window.contains(x.date))
    ]
    if unclear:
        x = unclear[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {x.display or x.ref} (status {x.status or 'not given'}): whether it "
            "was done is not recorded",
            tuple(_evidence(h) for h in unclear),
        )
    what = lower_first(p.label)
    return absent(s, p.absence, "Procedure", len(done), what, "procedure")


def allergy(p: Allergy, s: Screening, window: Window) -> Outcome:
    if (why := s.unavailable("AllergyIntolerance")) is not None:
        return Outcome(UNKNOWN, f"Allergies could not be retrieved ({why})")
    code_sets = [s.code_set(n) for n in p.substance_code_sets]
    counted = [
        a
        for a in s.record.allergies
        if a.verification_status not in NOT_COUNTED_VERIFICATION
        and a.clinical_status not in INACTIVE_ALLERGY
    ]
    matching = [a for a in counted if any(cs.matches(a.codes) for cs in code_sets)]
    hits = [a for a in matching if not verification_unread(a.verification_status)]
    if not hits and matching:
        # Its status is in a local code: it may say "refuted" or "entered in error".
        a = matching[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {a.display or a.ref} {not_confirmed(a.verification_status)}",
            tuple(
                Evidence(h.ref, h.display, None, day(h), "verificationStatus not readable")
                for h in matching
            ),
        )
    if hits:
        a = hits[0]
        # An allergy does not expire: it is dated by when it was recorded (or today).
        today = s.as_of.isoformat()
        when = day(a) or today
        return Outcome(
            MET,
            f"{p.label}: {a.display or a.ref} (recorded {when})",
            tuple(
                Evidence(h.ref, h.display, None, day(h) or today, h.clinical_status) for h in hits
            ),
        )
    maybe = [a for a in counted if any(cs.matches(a.possible_codes) for cs in code_sets)]
    if maybe:
        a = maybe[0]
        return Outcome(
            UNKNOWN,
            f"{p.label}: {a.ref} may be to {', '.join(a.possible_drugs)}; code not recognised",
            tuple(Evidence(m.ref, m.display, None, day(m), "code not recognised") for m in maybe),
        )
    unread = [a for a in counted if _unidentified(a, code_sets)]
    if unread:
        a = unread[0]
        what = (
            _unplaced(a, "substance")
            if a.unplaced
            else not_read(a.ref, a.codes, "substance ", a.display)
        )
        return Outcome(
            UNKNOWN,
            f"{p.label}: {what}",
            tuple(
                Evidence(u.ref, u.display, None, day(u), "no readable substance code")
                for u in unread
            ),
        )
    what = lower_first(p.label)
    return absent(s, p.absence, "AllergyIntolerance", len(counted), what, "allergy record")


# Registered here, not with a decorator on each function: mutation testing (scripts/mutate)
# leaves decorated functions unmutated, and these bodies decide the criteria.
rule(NoActiveMedication)(no_active_medication)
rule(MedicationHistory)(medication_history)
rule(ProcedureHistory)(procedure_history)
rule(Allergy)(allergy)
