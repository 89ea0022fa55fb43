-- Every delivery row of a chat by index, finished ones too: deleting a chat (/forget, a migrated
-- group's old row) cascades to its outbox rows, and with only pending rows indexed by chat that
-- cascade read the whole outbox while holding the writer (150 ms at 1M rows, seconds at the
-- tens of millions a large audience keeps for 48 hours). Pending rows were in the index already,
-- so fan-out inserts cost the same; a finished row stays in it until compaction deletes it.
-- (Queries on pending rows keep their chat_id = ? AND state IN (...) terms: the index serves them.)
DROP INDEX outbox_pending;
CREATE INDEX outbox_chat ON outbox (chat_id, state);
