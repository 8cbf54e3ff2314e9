"""A procedure coded only in a system the criterion cannot read (a hospital's own
procedure catalogue) keeps the history open: unknown, named, and cited with its date and
status so the study team can look at it."""

from __future__ import annotations

from cds_hooks.eligibility.results import Evidence
from fhir_mappings.facts import ProcedureFact
from tests.unit.test_engine_rules import day
from tests.unit.test_rules_generic import RADIOTHERAPY, rec, run

CATALOGUE = "http://hospital.example/procedures"


def test_a_locally_coded_procedure_is_unknown_named_and_cited() -> None:
    local = ProcedureFact(
        "Procedure/l",
        frozenset({(CATALOGUE, "RT-7")}),
        "completed",
        day(300),
        display="Bestrahlung",
    )
    bare = ProcedureFact("Procedure/b", frozenset({(CATALOGUE, "RT-8")}), "in-progress", None)
    result = run(RADIOTHERAPY, rec(procedures=(local, bare)), lookback=36500)
    assert (result.status, result.reason) == (
        "unknown",
        f"Prior radiotherapy: Procedure/l (Bestrahlung) is coded only in {CATALOGUE}, which the "
        "criterion cannot read",
    )
    assert result.evidence == (
        Evidence("Procedure/l", "Bestrahlung", None, day(300).isoformat(), "completed"),
        Evidence("Procedure/b", None, None, None, "in-progress"),
    )
