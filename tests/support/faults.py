"""Store faults a real SQLite file and a real process can be put in: shared by the
store-failure integration tests and the soak benchmark."""

from __future__ import annotations

import contextlib
import resource
import sqlite3
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process (a stuck backup, a migration) holds the database's write lock."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    blocker.execute("INSERT INTO store_probe (id, checked_at) VALUES (2, 'held')")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


@contextlib.contextmanager
def disk_full(pid: int) -> Iterator[None]:
    """No file of the process can grow (nor be written past its first byte)."""
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, hard))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
