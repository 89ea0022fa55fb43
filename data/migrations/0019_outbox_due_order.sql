-- Nothing changes here. PostgreSQL's migration 0019 adds the id to outbox_due's key, so that the
-- index gives the (next_attempt_at, id) order the dispatcher asks for; SQLite's index already
-- ends in the rowid, which is the outbox's id. The version is kept in step on both back ends.
SELECT 1;
