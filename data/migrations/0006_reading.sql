-- Reading: summaries, full-text search, saved search queries (issue 9).

-- The article's extractive summary, one sentence a line, computed once when its text is stored.
ALTER TABLE articles ADD COLUMN summary TEXT;
-- The language detected from the text (ISO 639-1), the feed's or page's declaration as a hint.
ALTER TABLE articles ADD COLUMN lang TEXT;

-- Full-text index over title, lead and body; rowid is the article's id. The text is folded by
-- bot.reading.normalize before it is written (case, Turkic dotted/dotless i, Latin diacritics),
-- so the tokenizer only has to split words.
CREATE VIRTUAL TABLE article_search USING fts5 (
    title, lead, body,
    tokenize = 'unicode61 remove_diacritics 0'
);
-- Document frequencies, for choosing an article's salient terms.
CREATE VIRTUAL TABLE article_search_terms USING fts5vocab (article_search, 'row');
-- However an article goes (pruning, a removed source's cascade), its index row goes with it.
CREATE TRIGGER articles_search_delete AFTER DELETE ON articles BEGIN
    DELETE FROM article_search WHERE rowid = old.id;
END;

-- A reader's search, so that its Next/Previous buttons work after a restart (64-byte callbacks
-- cannot carry the words).
CREATE TABLE searches (
    id         INTEGER PRIMARY KEY,
    query      TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX searches_created ON searches (created_at);
