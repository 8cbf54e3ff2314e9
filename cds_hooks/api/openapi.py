"""OpenAPI descriptions of the CDS Hooks endpoints (request bodies and responses).

The routes read and validate raw JSON against the full CDS Hooks 2.0 JSON Schema, so
FastAPI cannot infer these; they are spelled out here so the published OpenAPI document
describes the real contract (and so schemathesis can fuzz it).
"""

from __future__ import annotations

from typing import Any

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
}
DISCOVERY_RESPONSES: dict[int | str, dict[str, Any]] = {
    "200": _ok(DISCOVERY_RESPONSE, "CDS Hooks 2.0 §Discovery"),
    "401": _ERRORS["401"],
}
