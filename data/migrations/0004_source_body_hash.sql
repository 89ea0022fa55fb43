-- Many sites ignore ETag and If-Modified-Since and answer 200 with the same bytes every poll;
-- the hash of the last body lets ingestion skip parsing a feed that did not change.
ALTER TABLE sources ADD COLUMN body_hash TEXT;
