"""FHIR Bundle → the resources it holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings._read import as_dict, as_list

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
        "history",
    }
)


class BundleError(ValueError):
    """The input is not a FHIR Bundle we can read; the message is user-facing."""


def _check(bundle: Any) -> Mapping[str, Any]:
    if not isinstance(bundle, Mapping):
        raise BundleError("input is not a JSON object")
    if bundle.get("resourceType") != "Bundle":
        raise BundleError(f"resourceType is {bundle.get('resourceType')!r}, expected 'Bundle'")
    if bundle.get("type") not in BUNDLE_TYPES:
        raise BundleError(f"Bundle.type {bundle.get('type')!r} is not supported")
    return bundle


def resources_from_bundle(bundle: Any) -> list[dict[str, Any]]:
    """Every entry.resource, except search outcomes (OperationOutcome with mode outcome)."""
    entries = as_list(_check(bundle).get("entry"))
    resources = []
    for entry in entries:
        entry = as_dict(entry)
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        if as_dict(entry.get("search")).get("mode") == "outcome":
            continue
        resources.append(resource)
    return resources


def outcomes_from_bundle(bundle: Any) -> list[dict[str, Any]]:
    """OperationOutcome entries of a Bundle (Epic sends warnings as search.mode=outcome)."""
    return [
        resource
        for entry in as_list(_check(bundle).get("entry"))
        if isinstance(resource := as_dict(entry).get("resource"), dict)
        and resource.get("resourceType") == "OperationOutcome"
    ]


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in as_list(bundle.get("link")):
        link = as_dict(link)
        if link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
