-- Leases: work that exactly one worker may do at a time (a dispatch shard, long polling, the
-- periodic jobs), held by a worker ("host:pid:random") until expires_at and renewed by heartbeat.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,  -- seconds since the epoch, on the server's clock
    acquired_at DOUBLE PRECISION NOT NULL   -- when this holder took it (a takeover resets it)
);
CREATE INDEX leases_holder ON leases (holder);
