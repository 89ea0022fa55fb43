-- Everything an article's own page says, kept beside what the feed said (issue 8). The feed's
-- columns on `articles` stay as readers first saw them; summaries, channel posts and related
-- reads take the page's title, kicker, category, author, date, picture and tags from here.
CREATE TABLE article_pages (
    article_id      INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    title           TEXT,
    kicker          TEXT,
    category        TEXT,
    author          TEXT,
    -- The publication time in UTC, and as the publisher wrote it (ISO 8601 with its offset).
    published_at    REAL,
    published_local TEXT,
    utc_offset      INTEGER CHECK (utc_offset IS NULL OR utc_offset BETWEEN -1440 AND 1440),
    image_url       TEXT,
    tags            TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    description     TEXT,
    site_name       TEXT,
    canonical_url   TEXT,
    fetched_at      REAL    NOT NULL
);

-- A source /source_add found and showed to the admin, waiting for the Confirm button. Kept here
-- so the button still works after a restart; taken (deleted) when pressed, dropped after a day.
CREATE TABLE pending_sources (
    id         INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('feed', 'html')),
    poll_url   TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    found      TEXT    NOT NULL,
    created_at REAL    NOT NULL
);
