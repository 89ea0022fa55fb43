-- Every delivery row of a chat by index, finished ones too: deleting a chat (/forget, a migrated
-- group's old row) runs outbox_chats_delete (0015), which with only pending rows indexed by chat
-- read the whole outbox while holding the outbox writers' lock. Pending rows were in the index
-- already, so fan-out inserts cost the same; a finished row stays in it until compaction.
DROP INDEX outbox_pending;
CREATE INDEX outbox_chat ON outbox (chat_id, state);
