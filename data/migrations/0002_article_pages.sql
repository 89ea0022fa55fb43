-- Article pages: extracted text, metadata, "Read also" links, and recorded changes (issue 3).

-- What the article's own page said; NULL until (or unless) the page was fetched.
ALTER TABLE articles ADD COLUMN canonical_url TEXT;
ALTER TABLE articles ADD COLUMN description TEXT;
ALTER TABLE articles ADD COLUMN page_fetched_at REAL;
ALTER TABLE articles ADD COLUMN page_error TEXT;
-- The page named an existing article's address as its canonical one: the same story twice.
ALTER TABLE articles ADD COLUMN duplicate_of INTEGER REFERENCES articles (id) ON DELETE SET NULL;
-- 1 when the feed gave no date and published_at is only when we first saw the item.
ALTER TABLE articles ADD COLUMN published_guessed INTEGER NOT NULL DEFAULT 0
    CHECK (published_guessed IN (0, 1));
CREATE INDEX articles_canonical ON articles (canonical_url) WHERE canonical_url IS NOT NULL;
CREATE INDEX articles_duplicate_of ON articles (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- The page's "Read also" block, in page order.
CREATE TABLE article_links (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL CHECK (position >= 0),
    url        TEXT    NOT NULL,
    title      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (article_id, url)
);

-- A title or lead that changed after publication: the story is updated in place, the edit kept here.
CREATE TABLE article_changes (
    id         INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    field      TEXT    NOT NULL CHECK (field IN ('title', 'lead')),
    old        TEXT    NOT NULL,
    new        TEXT    NOT NULL,
    changed_at REAL    NOT NULL
);
CREATE INDEX article_changes_article ON article_changes (article_id, changed_at);

