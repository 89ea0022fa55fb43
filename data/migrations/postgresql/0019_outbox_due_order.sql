-- The dispatcher takes an article's due rows in (next_attempt_at, id) order: the claim, and each
-- article's first row in ACTIVE_ARTICLES. SQLite's outbox_due ends in the rowid, which is the id,
-- so its index gives that order. PostgreSQL's ends in the row's place in the heap: it read every
-- queued row of the article and sorted them, for each claim and each look for work, because a
-- broadcast's rows all share one next_attempt_at (a million queued: 145-1,260 ms a claim, and a
-- worker claims several times a second). With the id in the key both are one index probe.
-- (The keys are then all distinct, so the index is not deduplicated; a million-reader fan-out
-- took as long with it: 5.66 s against 5.6-5.7 s.)
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (article_id, next_attempt_at, id) WHERE state = 'queued';
