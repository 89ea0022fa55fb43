-- Fan-outs under way: an audience larger than one slice of chats is queued a slice per
-- transaction (bot/storage/outbox.py), and this row is its cursor, moved in the same transaction
-- as each slice's rows, so a crash resumes at the next slice.
CREATE TABLE fanouts (
    article_id INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    priority   INTEGER NOT NULL,
    category   TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    -- The keywords the article matched, wanted and excluded (JSON arrays), found once at the start.
    wanted     TEXT    NOT NULL,
    unwanted   TEXT    NOT NULL,
    fresh      INTEGER NOT NULL CHECK (fresh IN (0, 1)),  -- the article had no rows before
    after_chat INTEGER NOT NULL,  -- chats up to this id are queued
    added      INTEGER NOT NULL DEFAULT 0,
    slices     INTEGER NOT NULL DEFAULT 1,
    created_at REAL    NOT NULL
);
