"""One SQLite database file shared by the feedback and report stores (DATABASE_URL).

The file is created only at start-up (`create`). After that every connection is opened
read-write *without* create, and a held connection is checked, before each operation, to
still point at the file it opened: a database deleted or replaced while the service runs
is refused (StoreUnavailable), never written into an unlinked file and never silently
recreated empty. ":memory:" is a shared-cache in-memory database, gone with its last
connection.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

from cds_hooks.feedback.health import StoreUnavailable


def describe(exc: BaseException) -> str:
    """SQLite's own messages name the failure, never a value ("database is locked")."""
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        return f"{name}: {str(exc)[:120]}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or 'OS error'}"
    return type(exc).__name__


class HeldConnection:
    """A connection and the identity of the file it opened."""

    def __init__(self, connection: sqlite3.Connection, file_id: tuple[int, int] | None) -> None:
        self.connection = connection
        self.file_id = file_id


class SqliteFile:
    def __init__(self, path: str, *, timeout: float) -> None:
        self.memory = path == ":memory:"
        self.timeout = timeout
        if self.memory:
            self.path: Path | None = None
            self._uri = f"file:trial-cds-{uuid.uuid4().hex}?mode=memory&cache=shared"
        else:
            self.path = Path(path).absolute()
            self._uri = self.path.as_uri() + "?mode=rw"  # never creates the file

    def create(self) -> None:
        """Start-up only: the one place the file (and its directory) may be created."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(self.path).close()

    def file_id(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            info = os.stat(self.path)
        except FileNotFoundError as exc:
            raise StoreUnavailable("database file is missing") from exc
        except OSError as exc:
            raise StoreUnavailable(describe(exc)) from exc
        return info.st_dev, info.st_ino

    def connect(self, *, reader: bool = False) -> HeldConnection:
        file_id = self.file_id()
        try:
            connection = sqlite3.connect(
                self._uri,
                uri=True,
                timeout=self.timeout,
                isolation_level=None,  # transactions are explicit
                check_same_thread=False,
            )
            connection.execute("PRAGMA synchronous=NORMAL")
            if reader:
                connection.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            raise StoreUnavailable(describe(exc)) from exc
        return HeldConnection(connection, file_id)

    def current(self, held: HeldConnection | None, *, reader: bool = False) -> HeldConnection:
        """`held` if it still points at the database file, else a new connection."""
        if held is not None and held.file_id == self.file_id():
            return held
        if held is not None:
            held.connection.close()
        return self.connect(reader=reader)
