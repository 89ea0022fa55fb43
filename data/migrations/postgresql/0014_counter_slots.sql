-- Counter slots: each server connection keeps its own row of outbox_counts and outcome_hours
-- (slot = pg_backend_pid()). A trigger that moved one shared row per state locked 'queued' then
-- 'sending' for a claim and 'sending' then 'queued' for a retry: two dispatch workers deadlocked,
-- and every claim and outcome in every worker queued on the same few rows. Readers sum the slots;
-- maintenance folds the slots of closed connections into slot 0, where the statements written
-- by the code (fan-out, broadcasts) also count.
ALTER TABLE outbox_counts ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox_counts DROP CONSTRAINT outbox_counts_pkey;
ALTER TABLE outbox_counts ADD PRIMARY KEY (state, slot);

ALTER TABLE outcome_hours ADD COLUMN slot BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outcome_hours DROP CONSTRAINT outcome_hours_pkey;
ALTER TABLE outcome_hours ADD PRIMARY KEY (hour, slot);

-- Add delta to a state's count in this connection's slot.
CREATE FUNCTION count_outbox(counted TEXT, delta BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO outbox_counts AS c (state, slot, n) VALUES (counted, pg_backend_pid(), delta)
    ON CONFLICT (state, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
$$;

CREATE OR REPLACE FUNCTION outbox_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_outbox(OLD.state, -1);
    PERFORM count_outbox(NEW.state, 1);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION outbox_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_outbox(OLD.state, -1);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION delivery_totals_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_outbox('sent', NEW.sent);
    PERFORM count_outbox('digested', NEW.digested);
    PERFORM count_outbox('failed', NEW.failed);
    PERFORM count_outbox('blocked', NEW.blocked);
    PERFORM count_outbox('stale', NEW.stale);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION delivery_totals_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_outbox('sent', NEW.sent - OLD.sent);
    PERFORM count_outbox('digested', NEW.digested - OLD.digested);
    PERFORM count_outbox('failed', NEW.failed - OLD.failed);
    PERFORM count_outbox('blocked', NEW.blocked - OLD.blocked);
    PERFORM count_outbox('stale', NEW.stale - OLD.stale);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION delivery_totals_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count_outbox('sent', -OLD.sent);
    PERFORM count_outbox('digested', -OLD.digested);
    PERFORM count_outbox('failed', -OLD.failed);
    PERFORM count_outbox('blocked', -OLD.blocked);
    PERFORM count_outbox('stale', -OLD.stale);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION outcome_hours_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outcome_hours AS h (hour, slot, sent, failed, blocked, stale)
    VALUES (floor(extract(epoch FROM clock_timestamp()))::bigint / 3600, pg_backend_pid(),
            (NEW.state IN ('sent', 'digested'))::integer, (NEW.state = 'failed')::integer,
            (NEW.state = 'blocked')::integer, (NEW.state = 'stale')::integer)
    ON CONFLICT (hour, slot) DO UPDATE SET
        sent = h.sent + EXCLUDED.sent, failed = h.failed + EXCLUDED.failed,
        blocked = h.blocked + EXCLUDED.blocked, stale = h.stale + EXCLUDED.stale;
    RETURN NULL;
END;
$$;
