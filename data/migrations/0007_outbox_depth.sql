-- The outbox at depth (issue 11): due rows by index, counters kept by the writing transaction,
-- delivered rows compacted into per-article and per-hour totals after a short window.

-- Most rows are finished deliveries kept for a short window; only the dedup key and the
-- compaction order index them. Indexes for work still to do cover pending rows only.
-- (A partial index serves a query whose WHERE repeats its condition word for word, so queries
-- on one pending state also carry the PENDING condition.)
DROP INDEX outbox_queue;
DROP INDEX outbox_chat;
-- What the dispatcher asks for every second: queued rows of an article that are due. Holds for
-- quiet hours and retries not yet due sit further along the same index and are never read.
CREATE INDEX outbox_due ON outbox (article_id, next_attempt_at) WHERE state = 'queued';
CREATE INDEX outbox_pending ON outbox (chat_id, state) WHERE state IN ('queued', 'sending', 'digest');
CREATE INDEX outbox_sending ON outbox (id) WHERE state = 'sending';
-- Rows in a final state by when they ended, oldest first: what compaction takes.
CREATE INDEX outbox_done ON outbox (COALESCE(sent_at, created_at))
    WHERE state IN ('sent', 'digested', 'failed', 'blocked', 'stale');

-- Fan-out finds exclusions by what they exclude, as it finds subscriptions by what they want.
CREATE INDEX subscriptions_unwanted ON subscriptions (kind, value) WHERE exclude = 1;

-- Deliveries compacted out of the outbox, per article. A row here also says "this article was
-- fanned out": fan-out refuses such an article, so a compacted delivery is never sent again.
CREATE TABLE delivery_totals (
    article_id INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    sent       INTEGER NOT NULL DEFAULT 0,
    digested   INTEGER NOT NULL DEFAULT 0,
    failed     INTEGER NOT NULL DEFAULT 0,
    blocked    INTEGER NOT NULL DEFAULT 0,
    stale      INTEGER NOT NULL DEFAULT 0
);

-- The same deliveries per hour of their outcome (hour = unix seconds // 3600), kept for history.
CREATE TABLE delivery_hours (
    hour     INTEGER PRIMARY KEY,
    sent     INTEGER NOT NULL DEFAULT 0,
    failed   INTEGER NOT NULL DEFAULT 0,
    other    INTEGER NOT NULL DEFAULT 0
);

-- Deliveries by state, kept or compacted: what /stats shows, without counting the outbox.
CREATE TABLE outbox_counts (
    state TEXT PRIMARY KEY,
    n     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO outbox_counts (state, n)
SELECT s.state, (SELECT COUNT(*) FROM outbox AS o WHERE o.state = s.state)
FROM (SELECT 'queued' AS state UNION ALL SELECT 'sending' UNION ALL SELECT 'sent'
      UNION ALL SELECT 'failed' UNION ALL SELECT 'blocked' UNION ALL SELECT 'digest'
      UNION ALL SELECT 'digested' UNION ALL SELECT 'stale') AS s;

-- No trigger on INSERT: a million-row fan-out would pay a second of it. Fan-out, the only
-- statement that adds outbox rows, adds what it queued to these counters in its own transaction.
CREATE TRIGGER outbox_counts_update AFTER UPDATE OF state ON outbox WHEN old.state IS NOT new.state BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE state = old.state;
    UPDATE outbox_counts SET n = n + 1 WHERE state = new.state;
END;
CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox BEGIN
    UPDATE outbox_counts SET n = n - 1 WHERE state = old.state;
END;
-- Compaction moves a row from the outbox into delivery_totals: the two triggers cancel out.
-- Pruning an article drops its totals, as it used to drop its rows.
CREATE TRIGGER delivery_totals_insert AFTER INSERT ON delivery_totals BEGIN
    UPDATE outbox_counts SET n = n + CASE state
        WHEN 'sent' THEN new.sent WHEN 'digested' THEN new.digested WHEN 'failed' THEN new.failed
        WHEN 'blocked' THEN new.blocked ELSE new.stale END
    WHERE state IN ('sent', 'digested', 'failed', 'blocked', 'stale');
END;
CREATE TRIGGER delivery_totals_update AFTER UPDATE ON delivery_totals BEGIN
    UPDATE outbox_counts SET n = n + CASE state
        WHEN 'sent' THEN new.sent - old.sent WHEN 'digested' THEN new.digested - old.digested
        WHEN 'failed' THEN new.failed - old.failed WHEN 'blocked' THEN new.blocked - old.blocked
        ELSE new.stale - old.stale END
    WHERE state IN ('sent', 'digested', 'failed', 'blocked', 'stale');
END;
CREATE TRIGGER delivery_totals_delete AFTER DELETE ON delivery_totals BEGIN
    UPDATE outbox_counts SET n = n - CASE state
        WHEN 'sent' THEN old.sent WHEN 'digested' THEN old.digested WHEN 'failed' THEN old.failed
        WHEN 'blocked' THEN old.blocked ELSE old.stale END
    WHERE state IN ('sent', 'digested', 'failed', 'blocked', 'stale');
END;

-- Chats by status, for the same reason.
CREATE TABLE chat_counts (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO chat_counts (status, n)
SELECT s.status, (SELECT COUNT(*) FROM chats AS c WHERE c.status = s.status)
FROM (SELECT 'active' AS status UNION ALL SELECT 'blocked' UNION ALL SELECT 'left'
      UNION ALL SELECT 'migrated') AS s;
CREATE TRIGGER chat_counts_insert AFTER INSERT ON chats BEGIN
    UPDATE chat_counts SET n = n + 1 WHERE status = new.status;
END;
CREATE TRIGGER chat_counts_update AFTER UPDATE OF status ON chats WHEN old.status IS NOT new.status BEGIN
    UPDATE chat_counts SET n = n - 1 WHERE status = old.status;
    UPDATE chat_counts SET n = n + 1 WHERE status = new.status;
END;
CREATE TRIGGER chat_counts_delete AFTER DELETE ON chats BEGIN
    UPDATE chat_counts SET n = n - 1 WHERE status = old.status;
END;

-- Distinct keywords and how many subscriptions want (or exclude) each: fan-out matches each word
-- once per article however many readers chose it.
CREATE TABLE keywords (
    value   TEXT    NOT NULL,
    exclude INTEGER NOT NULL,
    n       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (value, exclude)
) WITHOUT ROWID;
INSERT INTO keywords (value, exclude, n)
SELECT value, exclude, COUNT(*) FROM subscriptions WHERE kind = 'keyword' GROUP BY value, exclude;
CREATE TRIGGER keywords_insert AFTER INSERT ON subscriptions WHEN new.kind = 'keyword' BEGIN
    INSERT OR IGNORE INTO keywords (value, exclude, n) VALUES (new.value, new.exclude, 0);
    UPDATE keywords SET n = n + 1 WHERE value = new.value AND exclude = new.exclude;
END;
CREATE TRIGGER keywords_delete AFTER DELETE ON subscriptions WHEN old.kind = 'keyword' BEGIN
    UPDATE keywords SET n = n - 1 WHERE value = old.value AND exclude = old.exclude;
    DELETE FROM keywords WHERE value = old.value AND exclude = old.exclude AND n <= 0;
END;
CREATE TRIGGER keywords_update AFTER UPDATE OF kind, value, exclude ON subscriptions
WHEN old.kind = 'keyword' OR new.kind = 'keyword' BEGIN
    UPDATE keywords SET n = n - 1 WHERE old.kind = 'keyword' AND value = old.value AND exclude = old.exclude;
    DELETE FROM keywords WHERE old.kind = 'keyword' AND value = old.value AND exclude = old.exclude AND n <= 0;
    INSERT OR IGNORE INTO keywords (value, exclude, n)
    SELECT new.value, new.exclude, 0 WHERE new.kind = 'keyword';
    UPDATE keywords SET n = n + 1 WHERE new.kind = 'keyword' AND value = new.value AND exclude = new.exclude;
END;

-- Subscriptions of active chats (exclusions aside), for /stats without a join over every row.
CREATE TABLE subscription_count (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO subscription_count (id, n)
SELECT 1, COUNT(*) FROM subscriptions AS s JOIN chats AS c ON c.id = s.chat_id
WHERE c.status = 'active' AND s.exclude = 0;
CREATE TRIGGER subscription_count_insert AFTER INSERT ON subscriptions WHEN new.exclude = 0 BEGIN
    UPDATE subscription_count
    SET n = n + COALESCE((SELECT status = 'active' FROM chats WHERE id = new.chat_id), 0);
END;
CREATE TRIGGER subscription_count_delete AFTER DELETE ON subscriptions WHEN old.exclude = 0 BEGIN
    UPDATE subscription_count
    SET n = n - COALESCE((SELECT status = 'active' FROM chats WHERE id = old.chat_id), 0);
END;
CREATE TRIGGER subscription_count_update AFTER UPDATE OF chat_id, exclude ON subscriptions BEGIN
    UPDATE subscription_count
    SET n = n + (new.exclude = 0) * COALESCE((SELECT status = 'active' FROM chats WHERE id = new.chat_id), 0)
              - (old.exclude = 0) * COALESCE((SELECT status = 'active' FROM chats WHERE id = old.chat_id), 0);
END;
CREATE TRIGGER subscription_count_status AFTER UPDATE OF status ON chats
WHEN (old.status = 'active') IS NOT (new.status = 'active') BEGIN
    UPDATE subscription_count
    SET n = n + ((new.status = 'active') - (old.status = 'active'))
              * (SELECT COUNT(*) FROM subscriptions WHERE chat_id = new.id AND exclude = 0);
END;
-- Before the chat goes: its subscriptions' own triggers will no longer find it active.
CREATE TRIGGER subscription_count_chat_delete BEFORE DELETE ON chats WHEN old.status = 'active' BEGIN
    UPDATE subscription_count
    SET n = n - (SELECT COUNT(*) FROM subscriptions WHERE chat_id = old.id AND exclude = 0);
END;
