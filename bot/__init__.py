"""newsbot: a Telegram bot that takes a news site's ticker to its readers."""

__version__ = "0.1.0"
