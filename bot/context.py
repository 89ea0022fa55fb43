"""The typed context every handler and job receives, and the services behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.budget import CommandBudget
from bot.config import Settings
from bot.i18n import Translate, supported, translator
from bot.reading.limits import ReaderLimits
from bot.reports import ErrorReports

if TYPE_CHECKING:
    from bot.delivery.dispatcher import Dispatcher
    from bot.metrics import Metrics
    from bot.models import Source
    from bot.news.fetcher import Fetcher
    from bot.storage.interface import Database
    from bot.supervisor import Supervisor
    from bot.watching import Watcher
    from bot.workers import Workers


POLLS_AT_ONCE = 16


class BotData:
    """Long-lived services, opened in post_init and closed in post_shutdown."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.db: Database | None = None
        self.fetcher: Fetcher | None = None
        self.dispatcher: Dispatcher | None = None
        self.dispatcher_task: asyncio.Task[None] | None = None
        # Keeps the dispatcher and every job alive through failures; /stats shows its counts.
        self.supervisor: Supervisor | None = None
        # Sources this process polls at once; the rest of those due wait their turn.
        self.poll_slots = asyncio.Semaphore(POLLS_AT_ONCE)
        # Set by the composition root, so handlers can (un)schedule polling without importing jobs.
        self.schedule_source: Callable[[Source], None] | None = None
        self.unschedule_source: Callable[[str], None] | None = None
        # Channels whose @username could not be resolved yet, and when to ask again.
        self.channel_retry_at: dict[int, float] = {}
        self.channel_unreachable_told: set[int] = set()  # admins heard about these once
        # Review cards and post edits, sent beside the channel job (one batch at a time).
        self.channel_side_task: asyncio.Task[None] | None = None
        # Guards against floods and noisy faults; sized from the settings by the composition root.
        self.command_budget = CommandBudget(per_minute=20)
        self.error_reports = ErrorReports()
        # Per-reader limits on page fetches and searches (reading, issue 9).
        self.reader_limits = ReaderLimits()
        # Set only when bot.metrics names an address: the metrics and the endpoint serving them.
        self.metrics: Metrics | None = None
        self.watcher: Watcher | None = None
        # On PostgreSQL: this worker's leases (shards, long polling, the periodic jobs) and their
        # heartbeat; None on SQLite, where one process does everything.
        self.workers: Workers | None = None
        self.workers_task: asyncio.Task[None] | None = None
        # The heartbeat's own server connection (PostgreSQL), so it never waits for the pool.
        self.lease_db: Database | None = None
        # Told when the long-polling task ends (``serve`` stops a bot that can no longer hear).
        self.polling_watch: Callable[[asyncio.Task[Any]], None] | None = None


class NewsContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """CallbackContext with typed access to newsbot's services."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)
        # The chat's stored language, read by a gate before any handler runs (None: the default).
        self.chat_language: str | None = None

    @property
    def settings(self) -> Settings:
        assert self.bot_data.settings is not None, "services are opened in post_init"
        return self.bot_data.settings

    @property
    def db(self) -> Database:
        assert self.bot_data.db is not None, "services are opened in post_init"
        return self.bot_data.db

    @property
    def fetcher(self) -> Fetcher:
        assert self.bot_data.fetcher is not None, "services are opened in post_init"
        return self.bot_data.fetcher

    @property
    def dispatcher(self) -> Dispatcher:
        assert self.bot_data.dispatcher is not None, "services are opened in post_init"
        return self.bot_data.dispatcher

    @property
    def reader_limits(self) -> ReaderLimits:
        return self.bot_data.reader_limits

    @property
    def supervisor(self) -> Supervisor:
        assert self.bot_data.supervisor is not None, "services are opened in post_init"
        return self.bot_data.supervisor

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.bot.admins

    def translate(self, language: str | None = None) -> Translate:
        """The translation for ``language``, else this chat's language, else the bot's default."""
        return translator(supported(language) or supported(self.chat_language) or self.settings.bot.language)
