-- Watching it (issue 12): the last hour's delivery outcomes and retired sources, for /stats.

-- Outcomes per hour in which they happened (hour = unix seconds // 3600), kept by the statement
-- that records them. delivery_hours only receives rows once compaction folds them (48 h later by
-- default), so it cannot say what the last hour did; this table can, without reading the outbox.
-- The maintenance job drops hours older than a few days.
CREATE TABLE outcome_hours (
    hour    INTEGER PRIMARY KEY,
    sent    INTEGER NOT NULL DEFAULT 0,  -- sent, or listed in a digest
    failed  INTEGER NOT NULL DEFAULT 0,
    blocked INTEGER NOT NULL DEFAULT 0,  -- the chat blocked the bot or is gone
    stale   INTEGER NOT NULL DEFAULT 0   -- too old to push when its turn came
);
-- One small upsert per finished row, beside the outbox_counts trigger the same statement fires.
CREATE TRIGGER outcome_hours_update AFTER UPDATE OF state ON outbox
WHEN old.state IS NOT new.state AND new.state IN ('sent', 'digested', 'failed', 'blocked', 'stale') BEGIN
    INSERT INTO outcome_hours (hour, sent, failed, blocked, stale)
    VALUES (CAST(strftime('%s', 'now') AS INTEGER) / 3600,
            new.state IN ('sent', 'digested'), new.state = 'failed', new.state = 'blocked',
            new.state = 'stale')
    ON CONFLICT (hour) DO UPDATE SET
        sent = sent + excluded.sent, failed = failed + excluded.failed,
        blocked = blocked + excluded.blocked, stale = stale + excluded.stale;
END;
-- The deliveries of the last week still in the outbox, by the hour of their outcome (a sent row
-- by when it was sent, any other by when it was queued: the closest the rows can say).
INSERT INTO outcome_hours (hour, sent, failed, blocked, stale)
SELECT CAST(COALESCE(sent_at, created_at) / 3600 AS INTEGER),
       SUM(state IN ('sent', 'digested')), SUM(state = 'failed'), SUM(state = 'blocked'), SUM(state = 'stale')
FROM outbox
WHERE state IN ('sent', 'digested', 'failed', 'blocked', 'stale')
  AND COALESCE(sent_at, created_at) >= CAST(strftime('%s', 'now') AS INTEGER) - 7 * 86400
GROUP BY 1;

-- When a source was retired (taken out of the config file); NULL for every other source.
ALTER TABLE sources ADD COLUMN retired_at REAL;
