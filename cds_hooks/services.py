"""The CDS services we offer: one per hook, generated from the loaded trials.

Requests are dispatched by service id (not by hook), so a second service on the same hook
is a new entry here, not a new branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cds_hooks.api.models import CdsService
from cds_hooks.trials import TrialDefinition


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, str]

    def discovery(self) -> dict[str, Any]:
        """CDS Hooks 2.0 §Discovery: one service description."""
        return CdsService(
            hook=self.hook,
            id=self.id,
            title=self.title,
            description=self.description,
            prefetch=dict(self.prefetch),
        ).wire()


HOOKS = {
    "patient-view": "when a chart is opened",
    "order-select": "when orders are selected",
    "order-sign": "when orders are signed",
}


def build_services(
    trials: Sequence[TrialDefinition], prefetch: Mapping[str, str]
) -> dict[str, Service]:
    # Only recruiting trials are suggested, so only they are named; a completed trial stays
    # loaded for the command line and batch screening.
    recruiting = [t for t in trials if t.recruiting]
    names = "; ".join(f"{t.short_title} ({t.registry_id})" for t in recruiting) or "none"
    services = {}
    for hook, when in HOOKS.items():
        service_id = f"trial-screening-{hook}"
        services[service_id] = Service(
            id=service_id,
            hook=hook,
            title="Clinical trial screening",
            description=(
                f"Screens the patient {when} against the eligibility criteria of open "
                f"clinical trials and suggests a referral when the patient may be eligible. "
                f"Recruiting trials: {names}."
            ),
            prefetch=prefetch,
        )
    return services
