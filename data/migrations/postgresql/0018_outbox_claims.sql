-- Each claim marks its rows with a token of its own, and an outcome applies only to a row still
-- marked with its claim's token. A worker that lost a shard's lease while sending would otherwise
-- put a row back in the queue (a retry, a hand-back) that the shard's new holder had claimed again
-- and was sending: a third claim then sent it once more. 0 is never a claim's token.
-- (A constant default: PostgreSQL adds the column without rewriting the table.)
ALTER TABLE outbox ADD COLUMN claim BIGINT NOT NULL DEFAULT 0;
