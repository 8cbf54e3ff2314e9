"""The store's tables and statements, written once with `?` placeholders (SQLite's style;
the PostgreSQL store numbers them). Only placeholders are ever interpolated into SQL.

- `issued_card`: which patient (pseudonym), trial and status each returned card was
  about, and nothing else from the record; purged after the retention period.
- `feedback`: each accepted/overridden outcome once (dedupe key).
- `suppression`: the latest override per (patient, trial, reason code), derived from the
  two tables above in the same transaction as whichever of the pair arrives second (the
  card insert is batched, so feedback can arrive first). The hook's lookup is one primary
  key range: its cost does not grow with the cards issued to the patient.
- `store_probe`: one row rewritten by the readiness check, to prove the database takes
  writes.
"""

from __future__ import annotations

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS issued_card (
        card_uuid TEXT PRIMARY KEY,
        patient_key TEXT NOT NULL,
        trial_id TEXT NOT NULL,
        status TEXT NOT NULL,
        issued_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS feedback (
        dedupe_key TEXT PRIMARY KEY,
        service_id TEXT NOT NULL,
        card_uuid TEXT NOT NULL,
        outcome TEXT NOT NULL,
        override_code TEXT,
        accepted_suggestions TEXT,
        outcome_timestamp TEXT NOT NULL,
        received_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS suppression (
        patient_key TEXT NOT NULL,
        trial_id TEXT NOT NULL,
        override_code TEXT NOT NULL,
        status TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (patient_key, trial_id, override_code))""",
    "CREATE TABLE IF NOT EXISTS store_probe (id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL)",
    # The suppression table replaced the (patient, trial) scan of issued cards.
    "DROP INDEX IF EXISTS issued_card_patient",
    "CREATE INDEX IF NOT EXISTS issued_card_issued_at ON issued_card (issued_at)",
    "CREATE INDEX IF NOT EXISTS feedback_card ON feedback (card_uuid)",
    "CREATE INDEX IF NOT EXISTS suppression_received_at ON suppression (received_at)",
)

# Keeps the most recent override per key, whichever order the rows are derived in.
_UPSERT = """
    ON CONFLICT (patient_key, trial_id, override_code) DO UPDATE
    SET status = excluded.status, received_at = excluded.received_at
    WHERE excluded.received_at > suppression.received_at
"""


def _derive(condition: str) -> str:
    """Suppression rows for the pairs `condition` selects (a fixed key test, no value)."""
    return (
        "INSERT INTO suppression (patient_key, trial_id, override_code, status, received_at) "  # noqa: S608
        "SELECT c.patient_key, c.trial_id, f.override_code, c.status, f.received_at "
        "FROM feedback f JOIN issued_card c ON c.card_uuid = f.card_uuid "
        "WHERE f.outcome = 'overridden' AND f.override_code IS NOT NULL "
        f"AND {condition}{_UPSERT}"
    )


INSERT_CARD = (
    "INSERT INTO issued_card (card_uuid, patient_key, trial_id, status, issued_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (card_uuid) DO NOTHING"
)
INSERT_FEEDBACK = (
    "INSERT INTO feedback (dedupe_key, service_id, card_uuid, outcome, override_code, "
    "accepted_suggestions, outcome_timestamp, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
)
DERIVE_FOR_CARD = _derive("c.card_uuid = ?")
DERIVE_FOR_FEEDBACK = _derive("f.dedupe_key = ?")
# Rebuilds the table at start-up from the stored rows (databases from before it existed).
DERIVE_ALL = _derive("f.received_at >= ?")
PURGE_CARDS = "DELETE FROM issued_card WHERE issued_at < ?"
PURGE_SUPPRESSION = "DELETE FROM suppression WHERE received_at < ?"
PROBE = (
    "INSERT INTO store_probe (id, checked_at) VALUES (1, ?) "
    "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at"
)
COUNT_FEEDBACK = "SELECT COUNT(*) FROM feedback"


def suppression_query(trials: int, codes: int) -> str:
    """(trial, status) of the suppressing overrides for a patient and these trials since a
    time, latest first: one primary-key range per trial."""
    trial_marks = ", ".join("?" * trials)
    code_marks = ", ".join("?" * codes)
    return (
        "SELECT trial_id, status FROM suppression WHERE patient_key = ? "  # noqa: S608
        f"AND trial_id IN ({trial_marks}) AND override_code IN ({code_marks}) "
        "AND received_at >= ? ORDER BY received_at DESC"
    )
