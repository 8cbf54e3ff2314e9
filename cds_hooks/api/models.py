"""CDS Hooks 2.0 wire models for what the service sends, named after the spec's own terms.

Requests are checked against the full JSON Schema (api.wire), which says more than these
models could (per-hook contexts, prefetch tokens); responses are built from these models so
a misspelt or missing member is a type error, not a card an EHR silently drops. Optional
members are None and left out on the wire: CDS Hooks 2.0 §Use of JSON, "JSON elements SHALL
NOT be null". FHIR resources and extensions stay plain JSON objects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def wire(self) -> dict[str, Any]:
        """The JSON object as sent: optional members without a value are omitted."""
        return self.model_dump(mode="json", exclude_none=True)


class Coding(_Wire):
    """§Coding (also §Source `topic` and §Card `overrideReasons`, where display is
    required by the service's own rule)."""

    system: str | None = None
    code: str
    display: str | None = None


class Source(_Wire):
    """§Source: label required; url and topic optional."""

    label: str = Field(min_length=1)
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Wire):
    """§Action: type and description required; `create` carries a new FHIR resource."""

    type: Literal["create", "update", "delete"]
    description: str = Field(min_length=1)
    resource: dict[str, Any] | None = None
    resourceId: list[str] | None = None


class Suggestion(_Wire):
    """§Suggestion: label required; uuid so the EHR can report it as accepted."""

    label: str = Field(min_length=1)
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Wire):
    """§Link: label, url and type (absolute | smart) required."""

    label: str = Field(min_length=1)
    url: str = Field(min_length=1)
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None


class Card(_Wire):
    """§Card Attributes: summary (<140 characters), indicator and source required."""

    uuid: str | None = None
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> Card:
        # §Card Attributes: "If suggestions are present, selectionBehavior MUST also be
        # provided."
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        return self


class CdsService(_Wire):
    """§Discovery: one CDS Service; hook, description and id required."""

    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None
