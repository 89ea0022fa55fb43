-- How a chat's pushed items arrive (issue 12). The defaults are what every chat got before:
-- a sound, Telegram's preview where the article has a picture, text rather than a photo, and
-- the long form (title, source, time and the lead).
ALTER TABLE chats ADD COLUMN push_silent  INTEGER NOT NULL DEFAULT 0 CHECK (push_silent IN (0, 1));
ALTER TABLE chats ADD COLUMN push_preview INTEGER NOT NULL DEFAULT 1 CHECK (push_preview IN (0, 1));
ALTER TABLE chats ADD COLUMN push_photo   INTEGER NOT NULL DEFAULT 0 CHECK (push_photo IN (0, 1));
ALTER TABLE chats ADD COLUMN push_short   INTEGER NOT NULL DEFAULT 0 CHECK (push_short IN (0, 1));
