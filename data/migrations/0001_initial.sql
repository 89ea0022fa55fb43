-- The first schema. Times are REAL seconds since the Unix epoch (UTC by definition).

CREATE TABLE chats (
    id            INTEGER PRIMARY KEY,   -- Telegram's chat id
    type          TEXT    NOT NULL CHECK (type IN ('private', 'group', 'supergroup', 'channel')),
    title         TEXT,
    username      TEXT,
    status        TEXT    NOT NULL DEFAULT 'active'
                          CHECK (status IN ('active', 'blocked', 'left', 'migrated')),
    language      TEXT,
    timezone      TEXT,
    digest_time   TEXT CHECK (digest_time IS NULL OR digest_time GLOB '[0-2][0-9]:[0-5][0-9]'),
    quiet_start   TEXT CHECK (quiet_start IS NULL OR quiet_start GLOB '[0-2][0-9]:[0-5][0-9]'),
    quiet_end     TEXT CHECK (quiet_end IS NULL OR quiet_end GLOB '[0-2][0-9]:[0-5][0-9]'),
    last_digest_at REAL,
    migrated_to   INTEGER,
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL
);

CREATE TABLE sources (
    id                   TEXT    PRIMARY KEY,
    name                 TEXT    NOT NULL,
    url                  TEXT    NOT NULL,
    kind                 TEXT    NOT NULL CHECK (kind IN ('feed', 'html')),
    interval             REAL    NOT NULL CHECK (interval >= 1),
    category             TEXT,
    breaking             INTEGER NOT NULL DEFAULT 0 CHECK (breaking IN (0, 1)),
    origin               TEXT    NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'admin')),
    options              TEXT    NOT NULL DEFAULT '{}',   -- JSON: selectors, timezone
    paused               INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    seeded               INTEGER NOT NULL DEFAULT 0 CHECK (seeded IN (0, 1)),
    etag                 TEXT,
    last_modified        TEXT,
    last_polled_at       REAL,
    last_success_at      REAL,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at         REAL,
    items_total          INTEGER NOT NULL DEFAULT 0,
    created_at           REAL    NOT NULL
);

CREATE TABLE articles (
    id           INTEGER PRIMARY KEY,
    source_id    TEXT    NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    guid         TEXT    NOT NULL,
    url          TEXT    NOT NULL,        -- normalised canonical address
    title        TEXT    NOT NULL,
    kicker       TEXT,
    category     TEXT,
    author       TEXT,
    image_url    TEXT,
    tags         TEXT    NOT NULL DEFAULT '[]',   -- JSON array
    lead         TEXT    NOT NULL DEFAULT '',
    body         TEXT,
    breaking     INTEGER NOT NULL DEFAULT 0 CHECK (breaking IN (0, 1)),
    published_at REAL    NOT NULL,
    fetched_at   REAL    NOT NULL,
    updated_at   REAL,
    -- 'backlog': present at a source's first poll, stored but never pushed.
    fanout       TEXT    NOT NULL DEFAULT 'done' CHECK (fanout IN ('done', 'backlog')),
    UNIQUE (source_id, guid)
);
-- One story is one row however it arrives: the same address from two feeds is one article.
CREATE UNIQUE INDEX articles_url ON articles (url);
CREATE INDEX articles_published ON articles (published_at);

CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY,
    chat_id    INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE ON UPDATE CASCADE,
    thread_id  INTEGER NOT NULL DEFAULT 0,     -- forum topic; 0 is the chat itself
    kind       TEXT    NOT NULL CHECK (kind IN ('all', 'category', 'source', 'keyword')),
    value      TEXT    NOT NULL DEFAULT '',    -- folded for matching; '' for 'all'
    label      TEXT    NOT NULL DEFAULT '',    -- as the reader typed it
    exclude    INTEGER NOT NULL DEFAULT 0 CHECK (exclude IN (0, 1)),
    created_at REAL    NOT NULL,
    UNIQUE (chat_id, thread_id, kind, value, exclude),
    CHECK ((kind = 'all') = (value = ''))
);
CREATE INDEX subscriptions_match ON subscriptions (kind, value) WHERE exclude = 0;
CREATE INDEX subscriptions_exclude ON subscriptions (chat_id, thread_id) WHERE exclude = 1;

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    article_id      INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    chat_id         INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE ON UPDATE CASCADE,
    thread_id       INTEGER NOT NULL DEFAULT 0,
    state           TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN (
                        'queued',   -- waiting for its turn
                        'sending',  -- claimed by the dispatcher; back to queued after a crash
                        'sent',     -- Telegram answered with message_id
                        'failed',   -- Telegram refused this message, or retries ran out
                        'blocked',  -- the chat blocked the bot or is gone
                        'digest',   -- waits for the chat's next digest
                        'digested', -- went out inside a digest
                        'stale'     -- too old to be news when its turn came; dropped
                    )),
    priority        INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL,
    created_at      REAL    NOT NULL,
    sent_at         REAL,
    message_id      INTEGER,
    last_error      TEXT,
    UNIQUE (article_id, chat_id, thread_id)
);
CREATE INDEX outbox_queue ON outbox (state, article_id, id);
CREATE INDEX outbox_chat ON outbox (chat_id, state);
