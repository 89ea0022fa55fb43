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

-- Active chats by type and subscriptions by kind, for /stats: grouping a million rows took
-- hundreds of milliseconds on every call. Kept by triggers like chat_counts; neither table is
-- written on the delivery path.
CREATE TABLE chat_type_counts (
    type TEXT PRIMARY KEY,
    n    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO chat_type_counts (type, n)
SELECT t.type, (SELECT COUNT(*) FROM chats AS c WHERE c.type = t.type AND c.status = 'active')
FROM (SELECT 'private' AS type UNION ALL SELECT 'group' UNION ALL SELECT 'supergroup'
      UNION ALL SELECT 'channel') AS t;
CREATE TRIGGER chat_type_counts_insert AFTER INSERT ON chats WHEN new.status = 'active' BEGIN
    UPDATE chat_type_counts SET n = n + 1 WHERE type = new.type;
END;
CREATE TRIGGER chat_type_counts_update AFTER UPDATE OF type, status ON chats
WHEN old.type IS NOT new.type OR old.status IS NOT new.status BEGIN
    UPDATE chat_type_counts SET n = n - 1 WHERE type = old.type AND old.status = 'active';
    UPDATE chat_type_counts SET n = n + 1 WHERE type = new.type AND new.status = 'active';
END;
CREATE TRIGGER chat_type_counts_delete AFTER DELETE ON chats WHEN old.status = 'active' BEGIN
    UPDATE chat_type_counts SET n = n - 1 WHERE type = old.type;
END;

CREATE TABLE subscription_kind_counts (
    kind    TEXT    NOT NULL,
    exclude INTEGER NOT NULL,
    n       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, exclude)
) WITHOUT ROWID;
INSERT INTO subscription_kind_counts (kind, exclude, n)
SELECT k.kind, e.exclude,
       (SELECT COUNT(*) FROM subscriptions AS s WHERE s.kind = k.kind AND s.exclude = e.exclude)
FROM (SELECT 'all' AS kind UNION ALL SELECT 'category' UNION ALL SELECT 'source'
      UNION ALL SELECT 'keyword') AS k,
     (SELECT 0 AS exclude UNION ALL SELECT 1) AS e;
CREATE TRIGGER subscription_kind_counts_insert AFTER INSERT ON subscriptions BEGIN
    UPDATE subscription_kind_counts SET n = n + 1 WHERE kind = new.kind AND exclude = new.exclude;
END;
CREATE TRIGGER subscription_kind_counts_delete AFTER DELETE ON subscriptions BEGIN
    UPDATE subscription_kind_counts SET n = n - 1 WHERE kind = old.kind AND exclude = old.exclude;
END;
CREATE TRIGGER subscription_kind_counts_update AFTER UPDATE OF kind, exclude ON subscriptions
WHEN old.kind IS NOT new.kind OR old.exclude IS NOT new.exclude BEGIN
    UPDATE subscription_kind_counts SET n = n - 1 WHERE kind = old.kind AND exclude = old.exclude;
    UPDATE subscription_kind_counts SET n = n + 1 WHERE kind = new.kind AND exclude = new.exclude;
END;
