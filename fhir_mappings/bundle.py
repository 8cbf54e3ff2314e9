"""FHIR Bundle → the resources it holds, and the OperationOutcomes that came with them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list, short_repr

# Every Bundle type that can carry one patient's current resources. "history" is refused:
# it holds past versions of the same resources, which would read as separate results.
BUNDLE_TYPES = frozenset(
    {
        "collection",
        "searchset",
        "transaction",
        "batch",
        "transaction-response",
        "batch-response",
        "document",
        "message",
    }
)


class BundleError(ValueError):
    """The input is not a FHIR Bundle we can read; the message is one user-facing line."""


def _entries(bundle: Any) -> list[Any]:
    if not isinstance(bundle, Mapping):
        what = "a list" if isinstance(bundle, list) else type(bundle).__name__
        raise BundleError(f"input is not a JSON object (got {what}); expected a FHIR Bundle")
    resource_type = bundle.get("resourceType")
    if resource_type != "Bundle":
        if resource_type is None:
            raise BundleError("input has no resourceType; expected a FHIR Bundle")
        raise BundleError(f"resourceType is {short_repr(resource_type)}, expected 'Bundle'")
    bundle_type = bundle.get("type")
    if bundle_type not in BUNDLE_TYPES:
        if bundle_type is None:
            raise BundleError("Bundle has no type")
        if bundle_type == "history":
            raise BundleError("Bundle.type 'history' is not supported (it holds past versions)")
        raise BundleError(
            f"Bundle.type {short_repr(bundle_type)} is not supported "
            f"(expected one of {', '.join(sorted(BUNDLE_TYPES))})"
        )
    entries = bundle.get("entry")
    if entries is None:
        return []
    if type(entries) is not list:
        raise BundleError("Bundle.entry is not a list")
    return entries


def resources_from_bundle(bundle: Any) -> list[dict[str, Any]]:
    """Every entry.resource in order, except search outcomes (search.mode = outcome; see
    `outcomes_from_bundle`). Entries without a resource (e.g. a batch-response entry that
    only has a `response`) are skipped. A resource that is not an object with a resourceType
    raises BundleError: it would otherwise be lost without trace.
    """
    resources = []
    for index, entry in enumerate(_entries(bundle)):
        entry = as_dict(entry)
        resource = entry.get("resource")
        if resource is None:
            continue
        if type(resource) is not dict:
            raise BundleError(f"Bundle.entry[{index}].resource is not a JSON object")
        if type(resource.get("resourceType")) is not str:
            raise BundleError(f"Bundle.entry[{index}].resource has no resourceType")
        if as_dict(entry.get("search")).get("mode") == "outcome":
            continue
        resources.append(resource)
    return resources


def outcomes_from_bundle(bundle: Any) -> list[dict[str, Any]]:
    """Every OperationOutcome that came with the Bundle: search outcomes (Epic sends its
    warnings and errors as entries with search.mode = outcome), OperationOutcome entries,
    and the `response.outcome` of batch/transaction responses. The caller decides what an
    error or fatal issue means (usually: that data could not be obtained)."""
    outcomes = []
    for entry in _entries(bundle):
        entry = as_dict(entry)
        resource = entry.get("resource")
        if type(resource) is dict and resource.get("resourceType") == "OperationOutcome":
            outcomes.append(resource)
        response_outcome = as_dict(entry.get("response")).get("outcome")
        if (
            type(response_outcome) is dict
            and response_outcome.get("resourceType") == "OperationOutcome"
        ):
            outcomes.append(response_outcome)
    return outcomes


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in as_list(bundle.get("link")):
        link = as_dict(link)
        if link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
