-- Counter slots: each server connection keeps its own rows of outbox_counts and outcome_hours
-- (slot = pg_backend_pid()). A trigger that moved one shared row per state locked 'queued' then
-- 'sending' for a claim and 'sending' then 'queued' for a retry: two dispatch workers deadlocked,
-- and every claim and outcome in every worker queued on the same few rows. Readers sum the slots;
-- maintenance folds the slots of closed connections into slot 0, where the statements written
-- by the code (fan-out, broadcasts) also count.
--
-- The triggers count once per statement, from its transition tables: a row trigger updating the
-- same counter row for each of a claim's hundred rows left a hundred versions of that row, each
-- walked by the next update, in every transaction.
ALTER TABLE outbox_counts ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox_counts DROP CONSTRAINT outbox_counts_pkey;
ALTER TABLE outbox_counts ADD PRIMARY KEY (state, slot);

ALTER TABLE outcome_hours ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outcome_hours DROP CONSTRAINT outcome_hours_pkey;
ALTER TABLE outcome_hours ADD PRIMARY KEY (hour, slot);

DROP TRIGGER outbox_counts_update ON outbox;
DROP TRIGGER outbox_counts_delete ON outbox;
DROP TRIGGER outcome_hours_update ON outbox;
DROP TRIGGER delivery_totals_insert ON delivery_totals;
DROP TRIGGER delivery_totals_update ON delivery_totals;
DROP TRIGGER delivery_totals_delete ON delivery_totals;

-- A statement's rows left their old states and reached their new ones (a row whose state did
-- not change counts -1 and +1 in the same state: nothing). Transition tables take no column
-- list, so this runs after every UPDATE of the outbox; most update the state anyway.
CREATE OR REPLACE FUNCTION outbox_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_counts AS c (state, slot, n)
    SELECT moved.state, pg_backend_pid(), SUM(moved.delta)
    FROM (SELECT state, -1 AS delta FROM old_rows UNION ALL SELECT state, 1 FROM new_rows) AS moved
    GROUP BY moved.state HAVING SUM(moved.delta) <> 0
    ON CONFLICT (state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_counts_update AFTER UPDATE ON outbox
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_update();

CREATE OR REPLACE FUNCTION outbox_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_counts AS c (state, slot, n)
    SELECT state, pg_backend_pid(), -COUNT(*) FROM old_rows GROUP BY state
    ON CONFLICT (state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION outbox_counts_delete();

-- Outcomes by the hour they happened: rows whose state changed to a finished one.
CREATE OR REPLACE FUNCTION outcome_hours_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outcome_hours AS h (hour, slot, sent, failed, blocked, stale)
    SELECT floor(extract(epoch FROM clock_timestamp()))::bigint / 3600, pg_backend_pid(),
           COUNT(*) FILTER (WHERE n.state IN ('sent', 'digested')),
           COUNT(*) FILTER (WHERE n.state = 'failed'),
           COUNT(*) FILTER (WHERE n.state = 'blocked'),
           COUNT(*) FILTER (WHERE n.state = 'stale')
    FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
    WHERE o.state IS DISTINCT FROM n.state AND n.state IN ('sent', 'digested', 'failed', 'blocked', 'stale')
    HAVING COUNT(*) > 0
    ON CONFLICT (hour, slot) DO UPDATE SET
        sent = h.sent + EXCLUDED.sent, failed = h.failed + EXCLUDED.failed,
        blocked = h.blocked + EXCLUDED.blocked, stale = h.stale + EXCLUDED.stale;
    RETURN NULL;
END;
$$;
CREATE TRIGGER outcome_hours_update AFTER UPDATE ON outbox
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION outcome_hours_update();

-- Compaction moves rows from the outbox into delivery_totals: these add back what the outbox
-- delete trigger took away, so the figures stay.
CREATE FUNCTION count_totals(
    sent_n BIGINT, digested_n BIGINT, failed_n BIGINT, blocked_n BIGINT, stale_n BIGINT
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox_counts AS c (state, slot, n)
    SELECT s.state, pg_backend_pid(), s.delta
    FROM (VALUES ('sent', sent_n), ('digested', digested_n), ('failed', failed_n),
                 ('blocked', blocked_n), ('stale', stale_n)) AS s (state, delta)
    WHERE s.delta <> 0
    ON CONFLICT (state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
$$;

CREATE OR REPLACE FUNCTION delivery_totals_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_totals(SUM(sent)::bigint, SUM(digested)::bigint, SUM(failed)::bigint,
                         SUM(blocked)::bigint, SUM(stale)::bigint)
    FROM new_rows;
    RETURN NULL;
END;
$$;
CREATE TRIGGER delivery_totals_insert AFTER INSERT ON delivery_totals
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION delivery_totals_insert();

CREATE OR REPLACE FUNCTION delivery_totals_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_totals(SUM(n.sent - o.sent)::bigint, SUM(n.digested - o.digested)::bigint,
                         SUM(n.failed - o.failed)::bigint, SUM(n.blocked - o.blocked)::bigint,
                         SUM(n.stale - o.stale)::bigint)
    FROM new_rows AS n JOIN old_rows AS o ON o.article_id = n.article_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER delivery_totals_update AFTER UPDATE ON delivery_totals
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION delivery_totals_update();

CREATE OR REPLACE FUNCTION delivery_totals_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_totals(-SUM(sent)::bigint, -SUM(digested)::bigint, -SUM(failed)::bigint,
                         -SUM(blocked)::bigint, -SUM(stale)::bigint)
    FROM old_rows;
    RETURN NULL;
END;
$$;
CREATE TRIGGER delivery_totals_delete AFTER DELETE ON delivery_totals
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION delivery_totals_delete();
