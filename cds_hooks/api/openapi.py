"""OpenAPI descriptions of the CDS Hooks endpoints (request bodies and responses).

The routes read and validate raw JSON against the full CDS Hooks 2.0 JSON Schema, so
FastAPI cannot infer these. `contract()` rewrites the generated document so that it says
exactly what the server accepts: one path per service that exists (the service id fixes
the hook), whose request body is the very schema the route validates with (the vendored
CDS Hooks schema, its $defs as components). What JSON Schema cannot say is in the
operation's description: order-select `selections` must name entries of `draftOrders`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from cds_hooks.api.wire import SCHEMA_DIR

_OUTCOME: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {"type": "array", "minItems": 1, "items": {"type": "object"}},
    },
}
_OUTCOME_RESPONSE: dict[str, Any] = {"content": {"application/fhir+json": {"schema": _OUTCOME}}}

HOOK_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string", "enum": ["patient-view", "order-select", "order-sign"]},
        "hookInstance": {"type": "string", "format": "uuid"},
        "fhirServer": {"type": "string", "format": "uri"},
        "fhirAuthorization": {"type": "object"},
        "context": {
            "type": "object",
            "required": ["userId", "patientId"],
            "properties": {
                "userId": {"type": "string"},
                "patientId": {"type": "string"},
                "encounterId": {"type": "string"},
                "selections": {"type": "array", "items": {"type": "string"}},
                "draftOrders": {"type": "object"},
            },
        },
        "prefetch": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
    },
}
FEEDBACK_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["feedback"],
    "properties": {
        "feedback": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["card", "outcome", "outcomeTimestamp"],
                "properties": {
                    "card": {"type": "string"},
                    "outcome": {"enum": ["accepted", "overridden"]},
                    "outcomeTimestamp": {"type": "string", "format": "date-time"},
                    "acceptedSuggestions": {"type": "array", "items": {"type": "object"}},
                    "overrideReason": {"type": "object"},
                },
            },
        }
    },
}
CARDS_RESPONSE = {
    "type": "object",
    "required": ["cards"],
    "properties": {"cards": {"type": "array", "items": {"type": "object"}}},
}
DISCOVERY_RESPONSE = {
    "type": "object",
    "required": ["services"],
    "properties": {"services": {"type": "array", "items": {"type": "object"}}},
}

_ERRORS: dict[int | str, dict[str, Any]] = {
    "400": {"description": "Malformed request", **_OUTCOME_RESPONSE},
    "401": {"description": "Missing or invalid JWT", **_OUTCOME_RESPONSE},
    "404": {"description": "Unknown service", **_OUTCOME_RESPONSE},
    "408": {"description": "Request body not received in time", **_OUTCOME_RESPONSE},
    "413": {"description": "Request too large", **_OUTCOME_RESPONSE},
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


HOOK_OPENAPI = _json_body(HOOK_REQUEST)
HOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    "200": _ok(CARDS_RESPONSE, "Cards (CDS Hooks 2.0 §CDS Service Response)"),
    **_ERRORS,
    "412": {"description": "Required data could not be obtained", **_OUTCOME_RESPONSE},
}
FEEDBACK_OPENAPI = _json_body(FEEDBACK_REQUEST)
FEEDBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    "200": _ok({"type": "object"}, "Feedback stored (retries are no-ops)"),
    **_ERRORS,
    "503": {
        "description": "Feedback could not be stored; nothing was kept (retry later)",
        **_OUTCOME_RESPONSE,
    },
}
DISCOVERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    "200": _ok(DISCOVERY_RESPONSE, "CDS Hooks 2.0 §Discovery"),
    "401": _ERRORS["401"],
}


# --- the published contract ----------------------------------------------------------------

_REQUEST_BY_HOOK = {
    "patient-view": "patientViewRequest",
    "order-select": "orderSelectRequest",
    "order-sign": "orderSignRequest",
}
_HOOK_FILE = re.compile(r"^hooks/([a-z-]+)\.context\.schema\.json$")
_DROP = ("$schema", "$id", "$comment")


def _component_ref(ref: str) -> str:
    if ref.startswith("#/$defs/"):
        return "#/components/schemas/" + ref.removeprefix("#/$defs/")
    match = _HOOK_FILE.match(ref)
    if match is None:
        raise ValueError(f"unexpected $ref in the CDS Hooks schema: {ref}")
    return f"#/components/schemas/{match.group(1)}.context"


def _as_component(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _as_component(v) for k, v in schema.items() if k not in _DROP}
        if isinstance(out.get("$ref"), str):
            out["$ref"] = _component_ref(out["$ref"])
        return out
    if isinstance(schema, list):
        return [_as_component(v) for v in schema]
    return schema


@lru_cache(maxsize=1)
def schema_components() -> dict[str, Any]:
    """The lenient CDS Hooks schema's $defs and the hook context schemas, as OpenAPI
    components (the same documents api.wire validates with)."""
    main = json.loads((SCHEMA_DIR / "cds-hooks-2.0.schema.json").read_text())
    components = {name: _as_component(d) for name, d in main["$defs"].items()}
    for path in sorted((SCHEMA_DIR / "hooks").glob("*.context.schema.json")):
        hook = path.name.removesuffix(".context.schema.json")
        components[f"{hook}.context"] = _as_component(json.loads(path.read_text()))
    return components


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def contract(document: dict[str, Any], services: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`document` (FastAPI's) with the two generic `{service_id}` paths replaced by one
    hook path and one feedback path per (service id, hook)."""
    paths = dict(document.get("paths", {}))
    paths.pop("/cds-services/{service_id}", None)
    paths.pop("/cds-services/{service_id}/feedback", None)
    for service_id, hook in services:
        description = (
            "`context.selections` must name entries of `context.draftOrders` (400 otherwise)."
            if hook == "order-select"
            else ""
        )
        paths[f"/cds-services/{service_id}"] = {
            "post": {
                "operationId": f"call_{service_id}",
                "summary": f"Call the {hook} service",
                "description": description,
                "requestBody": _body(_ref(_REQUEST_BY_HOOK[hook])),
                "responses": HOOK_RESPONSES,
            }
        }
        paths[f"/cds-services/{service_id}/feedback"] = {
            "post": {
                "operationId": f"feedback_{service_id}",
                "summary": f"Feedback on the cards of {service_id}",
                "requestBody": _body(_ref("feedbackRequest")),
                "responses": FEEDBACK_RESPONSES,
            }
        }
    components = dict(document.get("components", {}))
    components["schemas"] = {**components.get("schemas", {}), **schema_components()}
    return {**document, "paths": paths, "components": components}
