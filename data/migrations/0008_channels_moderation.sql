-- Channels and moderation (issue 10): staff roles, bans, an append-only audit log, channel
-- auto-posting, the review queue, the moderation blocklist and takedowns.

-- Owners are the ids in bot.admins (config); admins and moderators are granted here.
CREATE TABLE staff (
    user_id    INTEGER PRIMARY KEY,
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'moderator')),
    granted_by INTEGER NOT NULL,
    granted_at REAL    NOT NULL
);

CREATE TABLE bans (
    user_id   INTEGER PRIMARY KEY,
    reason    TEXT    NOT NULL DEFAULT '',
    banned_by INTEGER NOT NULL,
    banned_at REAL    NOT NULL
);

-- Who did what to whom. Rows are never changed or removed: the triggers refuse it.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      REAL    NOT NULL,
    actor   INTEGER NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL DEFAULT '',
    details TEXT    NOT NULL DEFAULT ''
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

-- Words that hold an item for review wherever it would go (channels and pushes).
CREATE TABLE blocklist (
    word     TEXT    PRIMARY KEY,   -- folded like keyword subscriptions
    label    TEXT    NOT NULL,
    added_by INTEGER NOT NULL,
    added_at REAL    NOT NULL
);

-- A channel the bot posts to. chat_id is NULL until an @username is resolved.
CREATE TABLE channels (
    id            INTEGER PRIMARY KEY,
    ref           TEXT    NOT NULL UNIQUE,  -- as configured: '@name' or the numeric id
    chat_id       INTEGER UNIQUE,
    title         TEXT,
    origin        TEXT    NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'admin')),
    options       TEXT    NOT NULL DEFAULT '{}',  -- JSON: the [[channels]] keys
    state         TEXT    NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused')),
    state_reason  TEXT,
    last_article  INTEGER NOT NULL DEFAULT 0,  -- articles up to this id were considered
    last_post_at  REAL,
    created_at    REAL    NOT NULL
);

-- One story for one channel: waits its turn, is held for review, or was posted.
CREATE TABLE channel_posts (
    id               INTEGER PRIMARY KEY,
    channel_id       INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    article_id       INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    state            TEXT    NOT NULL CHECK (state IN
                         ('waiting', 'review', 'queued', 'posted', 'rejected', 'cancelled', 'failed', 'stale')),
    priority         INTEGER NOT NULL DEFAULT 0,
    title            TEXT,   -- a moderator's edited headline
    summary          TEXT,   -- a moderator's edited summary
    outbox_id        INTEGER,
    message_id       INTEGER,
    extra_message_id INTEGER,  -- the text that followed a photo whose caption could not hold it all
    kind             TEXT,     -- 'photo' or 'text', as posted
    posted_at        REAL,
    edited_at        REAL,
    created_at       REAL    NOT NULL,
    UNIQUE (channel_id, article_id)
);
CREATE INDEX channel_posts_state ON channel_posts (channel_id, state, priority, id);
CREATE INDEX channel_posts_article ON channel_posts (article_id);
-- The channel job looks at posts in flight every second: few rows, found without a scan.
CREATE INDEX channel_posts_queued ON channel_posts (outbox_id) WHERE state = 'queued';
CREATE INDEX channel_posts_posted ON channel_posts (posted_at) WHERE state = 'posted';
CREATE INDEX channel_posts_last ON channel_posts (channel_id, posted_at) WHERE state = 'posted';

-- A card in the review chat: a channel post held for review, or a push the blocklist held.
CREATE TABLE reviews (
    id              INTEGER PRIMARY KEY,
    article_id      INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    post_id         INTEGER REFERENCES channel_posts (id) ON DELETE CASCADE,  -- NULL: a held push
    reason          TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'approved', 'rejected', 'withdrawn')),
    title           TEXT,
    summary         TEXT,
    card_chat_id    INTEGER,
    card_message_id INTEGER,
    prompt_message_id INTEGER,
    prompt_field    TEXT,
    decided_by      INTEGER,
    decided_name    TEXT,
    decided_at      REAL,
    created_at      REAL    NOT NULL
);
CREATE INDEX reviews_state ON reviews (state, id);
CREATE INDEX reviews_prompt ON reviews (prompt_message_id) WHERE prompt_message_id IS NOT NULL;

-- An admin's /broadcast is stored as a hidden article of this reserved source, so it travels
-- through the outbox like any item (limits, retries, crash safety). Source ids from the config
-- cannot start with '_', and listings leave '_' sources out: it is never polled nor shown.
INSERT INTO sources (id, name, url, kind, interval, origin, paused, seeded, created_at)
VALUES ('_broadcast', 'Broadcasts', 'about:broadcast', 'feed', 86400, 'admin', 1, 1, 0);

-- A taken-down story is hidden from /latest, search and related reads.
ALTER TABLE articles ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1));
-- What an outbox row carries: a reader's push or a channel post (rendered differently).
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'push' CHECK (kind IN ('push', 'channel', 'broadcast'));
-- Sent with disable_notification (a channel's silent hours).
ALTER TABLE outbox ADD COLUMN silent INTEGER NOT NULL DEFAULT 0 CHECK (silent IN (0, 1));
