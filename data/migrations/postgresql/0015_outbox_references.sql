-- The outbox's references to articles and chats are kept by statement triggers, not foreign keys.
-- A foreign key checks each inserted row with its own locking lookup of the parent: two per row,
-- 9 of the 23 seconds a fan-out to a million readers took (EXPLAIN ANALYZE, this machine). The rows
-- a fan-out inserts come from a join on chats and from the article its transaction holds, so what
-- the keys still did was cascade deletes, and stop a chat being deleted under a running fan-out:
--   * deleting articles or chats deletes their outbox rows, once per statement;
--   * the chat delete takes the outbox_writers lock exclusively, and every statement that inserts
--     outbox rows for chats it read (fan-out, broadcasts, channel posts) takes it shared first
--     (dialect.outbox_writer_lock), so the delete waits for those inserts to commit and then sees
--     their rows, and an insert that starts after it sees the chat gone;
--   * a changed chat id (the code never changes one) still moves the chat's rows.
-- The lock's key, 0x6e62_6f78 ('nbox'), is also in bot/storage/dialect.py.
ALTER TABLE outbox DROP CONSTRAINT outbox_article_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_chat_id_fkey;

CREATE FUNCTION outbox_articles_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM outbox WHERE article_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_articles_delete AFTER DELETE ON articles
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION outbox_articles_delete();

CREATE FUNCTION outbox_chats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Taken after the chats are gone and before their rows are looked for: each statement below
    -- reads what was committed when it starts.
    PERFORM pg_advisory_xact_lock(1851944824);
    DELETE FROM outbox WHERE chat_id IN (SELECT id FROM old_rows);
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_chats_delete AFTER DELETE ON chats
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION outbox_chats_delete();

CREATE FUNCTION outbox_chats_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox SET chat_id = NEW.id WHERE chat_id = OLD.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_chats_update AFTER UPDATE OF id ON chats FOR EACH ROW
WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION outbox_chats_update();
