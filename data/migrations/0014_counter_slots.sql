-- Counter slots. On PostgreSQL each server connection keeps its own row of outbox_counts and
-- outcome_hours (slot = its backend pid), so dispatch workers never wait for, or deadlock on,
-- each other's counter rows; readers sum the slots, and maintenance folds the slots of closed
-- connections into slot 0. SQLite has one writer: every row here stays in slot 0, and this
-- migration only gives the tables the same shape (the triggers on outbox are unchanged, but the
-- per-hour upsert names its new key).
-- The triggers on outbox name outbox_counts: renaming the new table into its place must not
-- check them against the schema half-way (the modern rename does, and finds the table gone).
PRAGMA legacy_alter_table = ON;
CREATE TABLE outbox_counts_new (
    state TEXT    NOT NULL,
    n     INTEGER NOT NULL DEFAULT 0,
    slot  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (state, slot)
) WITHOUT ROWID;
INSERT INTO outbox_counts_new (state, n, slot) SELECT state, n, 0 FROM outbox_counts;
DROP TABLE outbox_counts;
ALTER TABLE outbox_counts_new RENAME TO outbox_counts;

DROP TRIGGER outcome_hours_update;
CREATE TABLE outcome_hours_new (
    hour    INTEGER NOT NULL,
    sent    INTEGER NOT NULL DEFAULT 0,
    failed  INTEGER NOT NULL DEFAULT 0,
    blocked INTEGER NOT NULL DEFAULT 0,
    stale   INTEGER NOT NULL DEFAULT 0,
    slot    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, slot)
);
INSERT INTO outcome_hours_new (hour, sent, failed, blocked, stale, slot)
SELECT hour, sent, failed, blocked, stale, 0 FROM outcome_hours;
DROP TABLE outcome_hours;
ALTER TABLE outcome_hours_new RENAME TO outcome_hours;
CREATE TRIGGER outcome_hours_update AFTER UPDATE OF state ON outbox
WHEN old.state IS NOT new.state AND new.state IN ('sent', 'digested', 'failed', 'blocked', 'stale') BEGIN
    INSERT INTO outcome_hours (hour, sent, failed, blocked, stale, slot)
    VALUES (CAST(strftime('%s', 'now') AS INTEGER) / 3600,
            new.state IN ('sent', 'digested'), new.state = 'failed', new.state = 'blocked',
            new.state = 'stale', 0)
    ON CONFLICT (hour, slot) DO UPDATE SET
        sent = sent + excluded.sent, failed = failed + excluded.failed,
        blocked = blocked + excluded.blocked, stale = stale + excluded.stale;
END;
PRAGMA legacy_alter_table = OFF;
