-- Ingestion fidelity and hardening (issues 7 and 8).

-- articles.url is now the link exactly as the publisher wrote it; url_key is only a matching key
-- (see bot/news/urls.py). Rows stored before held a normalised url: their key is that url
-- without its scheme, which is what url_key makes of it.
ALTER TABLE articles ADD COLUMN url_key TEXT;
UPDATE articles SET url_key = CASE WHEN url LIKE 'http%://%' THEN substr(url, instr(url, '//')) ELSE url END;
-- Two stories of one source may share a link (a podcast's episodes on one page): no longer unique.
DROP INDEX articles_url;
CREATE INDEX articles_url ON articles (url);
CREATE INDEX articles_url_key ON articles (url_key);
-- 1 when the feed gave the guid itself; two such guids of one source are two stories.
ALTER TABLE articles ADD COLUMN publisher_guid INTEGER NOT NULL DEFAULT 0 CHECK (publisher_guid IN (0, 1));
UPDATE articles SET publisher_guid = (guid <> url AND guid NOT LIKE 'sha1:%');
-- 0 when the item had no link and url points at the source's site.
ALTER TABLE articles ADD COLUMN own_link INTEGER NOT NULL DEFAULT 1 CHECK (own_link IN (0, 1));

-- What each source already showed us, kept long after its articles are pruned, so an old item
-- still in the feed is not pushed again. The key is 64 bits of a hash of the item's guid.
CREATE TABLE seen_items (
    source_id TEXT    NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    key       INTEGER NOT NULL,
    seen_at   REAL    NOT NULL,
    PRIMARY KEY (source_id, key)
) WITHOUT ROWID;
CREATE INDEX seen_items_seen_at ON seen_items (seen_at);

-- Items merged into another story, and items that could not be read: shown to admins in /sources.
ALTER TABLE sources ADD COLUMN items_merged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sources ADD COLUMN items_skipped INTEGER NOT NULL DEFAULT 0;

-- A date in the future is when we discovered the item (an item dated 2099 topped /latest forever).
UPDATE articles SET published_at = fetched_at WHERE published_at > fetched_at;

-- Only the last few edits of an article are kept (a title with a counter changes every poll).
DELETE FROM article_changes WHERE id IN (
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY article_id ORDER BY id DESC) AS newer
        FROM article_changes
    ) WHERE newer > 10
);
