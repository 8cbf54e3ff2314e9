"""What the service settles at start-up, checked through its real lifespan."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds_hooks.app import create_app
from cds_hooks.settings import Settings


@pytest.fixture
def collector() -> Iterator[None]:
    """The collector's process-wide state, restored for the other tests."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_objects_are_frozen_and_young_collections_are_rarer(
    tmp_path: Path, collector: None
) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    settings = Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'store.sqlite3'}", CDS_DEV_MODE=True)
    app = create_app(settings)

    async def start_and_look() -> tuple[int, tuple[int, int, int]]:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count(), gc.get_threshold()

    frozen, threshold = asyncio.run(start_and_look())
    # The loaded trials and terminology alone are tens of thousands of objects.
    assert frozen > 10_000
    assert threshold == (10_000, 10, 10)
