"""Patient → PatientFact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, short_repr
from fhir_mappings.dates import parse_date
from fhir_mappings.facts import PatientFact


def parse_patient(resource: Mapping[str, Any]) -> PatientFact:
    """Never raises; a missing id or an unreadable birthDate is named in `problem` (which
    the age rule shows when there is no birth date, so nothing else goes there).

    A partial birthDate ("1950", "1950-06") is kept with its precision: the age rule then
    decides only when every possible age agrees.
    """
    resource = as_dict(resource)
    problems: list[str] = []
    rid = resource.get("id")
    ref = f"Patient/{rid}" if type(rid) is str and rid else "Patient/(no id)"
    if ref == "Patient/(no id)":
        problems.append("the Patient resource has no id")
    birth = parse_date(resource.get("birthDate"))
    if birth.reason is not None:
        problems.append(f"birthDate {birth.reason.removeprefix('date ')}")
    gender = resource.get("gender")
    # deceasedDateTime is a death date whatever its precision; a malformed one still says
    # the patient died, so any string counts.
    died, flag = resource.get("deceasedDateTime"), resource.get("deceasedBoolean")
    deceased = flag is True or type(died) is str
    deceased_problem = None
    if not deceased and died is not None:
        deceased_problem = f"deceasedDateTime {short_repr(died)} is not a dateTime"
    elif not deceased and flag is not None and flag is not False:
        deceased_problem = f"deceasedBoolean {short_repr(flag)} is not a boolean"
    return PatientFact(
        ref=ref,
        birth_date=birth.value,
        birth_date_precision=birth.precision,
        gender=gender if type(gender) is str else None,
        deceased=deceased,
        deceased_date=parse_date(died).value if died is not None else None,
        deceased_problem=deceased_problem,
        problem="; ".join(problems) or None,
    )
