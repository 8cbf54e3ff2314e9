"""A private PostgreSQL cluster (pgserver) for one test module, started by the test itself.

Its data directory is made outside pytest's temporary root on purpose: run as root,
pgserver starts PostgreSQL as its own `pgserver` user, which must traverse every parent
directory, and each new pytest session (another suite running at the same time) resets
pytest's root to mode 0700, which would lock that user out of a cluster starting up.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def private_postgres(name: str) -> Iterator[str]:
    """The URI of a new cluster, stopped and deleted afterwards."""
    pgserver = pytest.importorskip("pgserver")
    directory = Path(tempfile.mkdtemp(prefix=f"trial-cds-{name}-"))
    try:
        # get_server returns once PostgreSQL accepts connections (pg_ctl start -w).
        server = pgserver.get_server(directory / "data", cleanup_mode="stop")
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
