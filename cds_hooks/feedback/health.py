"""How the feedback store fails and what it reports about itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class StoreUnavailable(Exception):
    """The store could not do what was asked; `reason` is safe to log (no data, no SQL)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class StoreHealth:
    """What the readiness endpoint reports; counters only, never data."""

    available: bool = True
    last_error: str | None = None
    feedback_refused: int = 0
    lookups_failed: int = 0
    card_batches_failed: int = 0
    cards_pending: int = 0
    cards_dropped: int = 0
    cards_written: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
