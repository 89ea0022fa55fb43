"""The composition root: the one place that builds the application and wires everything.

Only this module imports ``handlers`` and ``jobs``; everything else in ``bot`` knows neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)
from telegram.ext.filters import UpdateType

from bot.budget import CommandBudget
from bot.config import Settings
from bot.context import BotData, NewsContext
from bot.delivery.aiohttp_request import AiohttpRequest
from bot.delivery.dispatcher import Dispatcher, in_flight_for
from bot.delivery.ratelimit import Limiter, Rates
from bot.delivery.sender import make_batch_sender, make_list_sender, make_sender
from bot.delivery.shared_limiter import SharedRateLimiter
from bot.news.fetcher import Fetcher
from bot.render.callbacks import REMOVE, SOURCE_ADD, SUBSCRIBE
from bot.render.help import READER_COMMANDS
from bot.reports import ErrorReports
from bot.storage import open_database, sources
from handlers import admin, gates, membership, reading, start, subscriptions
from handlers import settings as chat_settings
from handlers import sources as source_admin
from handlers.errors import on_error, report_held
from jobs import digest, ingest, maintenance

logger = logging.getLogger(__name__)

NewsApp = Application[Any, NewsContext, dict[Any, Any], dict[Any, Any], BotData, Any]


def build_application(settings: Settings) -> NewsApp:
    """Build the PTB application for these settings; nothing connects until it starts."""
    settings.require_token()
    api = settings.bot.api_url.rstrip("/")
    delivery = settings.delivery
    global_rate = delivery.paid_per_second if delivery.paid_broadcast else delivery.global_per_second
    limiter = Limiter(
        Rates(global_rate, delivery.chat_per_second, delivery.group_per_minute, delivery.headroom)
    )
    application: NewsApp = (
        ApplicationBuilder()
        .token(settings.bot.token.get())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=NewsContext, bot_data=BotData))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                tzinfo=settings.bot.tz,
                # A reader may delete a command before its answer goes: answer anyway, not fail.
                allow_sending_without_reply=True,
            )
        )
        # Commands of different chats may run side by side; storage serialises its own writes.
        .concurrent_updates(True)
        .rate_limiter(SharedRateLimiter(limiter))
        # aiohttp instead of PTB's default httpx stack: a third of the CPU per message. The pool
        # holds the dispatcher's sends in flight plus room for replies.
        .request(AiohttpRequest(connection_pool_size=in_flight_for(global_rate) + 16))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .post_init(open_services)
        .post_shutdown(close_services)
        .build()
    )
    application.bot_data.settings = settings
    application.bot_data.command_budget = CommandBudget(per_minute=settings.commands.per_minute)
    application.bot_data.error_reports = ErrorReports(window=settings.commands.error_report_window)
    register_handlers(application)
    return application


def register_handlers(application: NewsApp) -> None:
    """Every handler, in one ordered block; gates run first in negative groups."""
    # Commands come as messages, or as posts in a channel (its administrators post as the
    # channel). Edited messages are not commands: editing "/subscribe all" must not resubscribe.
    posts = UpdateType.MESSAGE | UpdateType.CHANNEL_POST
    commands = filters.COMMAND & posts
    application.add_handler(MessageHandler(commands, gates.command_budget), group=-2)
    application.add_handler(CallbackQueryHandler(gates.command_budget), group=-2)
    application.add_handler(MessageHandler(commands, gates.remember_chat), group=-1)

    def command(name: str, callback: Any) -> None:
        application.add_handler(CommandHandler(name, callback, filters=posts))

    command("start", start.start)
    command("help", start.help_command)
    command("subscribe", subscriptions.subscribe)
    command("unsubscribe", subscriptions.unsubscribe)
    command("mysubs", subscriptions.mysubs)
    application.add_handler(
        CallbackQueryHandler(subscriptions.on_button, pattern=f"^({SUBSCRIBE}|{REMOVE}):")
    )
    command("digest", chat_settings.digest)
    command("quiet", chat_settings.quiet)
    command("timezone", chat_settings.timezone)
    command("latest", reading.latest)
    command("stats", admin.stats)
    command("sources", source_admin.list_sources)
    command("source_add", source_admin.add_source)
    application.add_handler(CallbackQueryHandler(source_admin.on_add_button, pattern=f"^{SOURCE_ADD}:"))
    command("source_remove", source_admin.remove_source)
    command("source_pause", source_admin.pause_source)
    command("source_resume", source_admin.resume_source)
    application.add_handler(ChatMemberHandler(membership.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    # Keep last in group 0: a button no handler above claims (forged, or from an older
    # version) is still answered, so the reader's client stops spinning.
    application.add_handler(CallbackQueryHandler(subscriptions.on_stale_button))
    application.add_error_handler(on_error)


async def open_services(application: NewsApp) -> None:
    """Open storage, the fetcher and the dispatcher; schedule the jobs. Tests call this too."""
    data = application.bot_data
    settings = data.settings
    assert settings is not None
    data.db = db = await open_database(settings.bot.db)
    data.fetcher = Fetcher(
        user_agent=settings.ingest.user_agent,
        total_timeout=settings.ingest.fetch_timeout,
        max_bytes=settings.ingest.max_bytes,
    )
    await sources.sync_configured(
        db,
        sources=[
            {
                "id": s.id,
                "name": s.name,
                "url": s.url,
                "kind": s.kind,
                "interval": s.interval,
                "category": s.category,
                "breaking": s.breaking,
                "options": {"selectors": dict(s.selectors), "timezone": s.timezone, "preset": s.preset},
            }
            for s in settings.sources
        ],
        now=time.time(),
    )
    delivery = settings.delivery
    rate_limiter = application.bot.rate_limiter
    assert isinstance(rate_limiter, SharedRateLimiter)
    data.dispatcher = Dispatcher(
        db=db,
        send=make_sender(
            application.bot,
            default_tz=settings.bot.timezone,
            default_language=settings.bot.language,
            paid_broadcast=delivery.paid_broadcast,
        ),
        limiter=rate_limiter.limiter,
        stale_after=delivery.stale_after,
        give_up_after=delivery.give_up_after,
        send_batch=make_batch_sender(
            make_list_sender(application.bot),
            default_tz=settings.bot.timezone,
            default_language=settings.bot.language,
        ),
        default_tz=settings.bot.timezone,
    )
    # Not application.create_task: the application is not running yet during post_init.
    data.dispatcher_task = asyncio.create_task(data.dispatcher.run(), name="dispatcher")

    job_queue = application.job_queue
    assert job_queue is not None, "install python-telegram-bot[job-queue]"
    for source in await sources.list_sources(db):
        ingest.schedule_source(job_queue, source)
        if source.consecutive_failures:
            # Admins heard about this failure before the restart; they hear next of its recovery.
            data.failing_sources.add(source.id)
    data.schedule_source = functools.partial(ingest.schedule_source, job_queue)
    data.unschedule_source = functools.partial(ingest.unschedule_source, job_queue)
    job_queue.run_repeating(maintenance.nudge_dispatcher, interval=5, first=5, name="nudge-dispatcher")
    job_queue.run_repeating(digest.send_digests, interval=60, first=10, name="digests")
    job_queue.run_repeating(maintenance.prune_articles, interval=3600, first=60, name="prune-articles")
    job_queue.run_repeating(report_held, interval=60, first=60, name="error-reports")

    # Admin commands stay out of the menu everyone sees; /help lists them to admins.
    commands = [BotCommand(name, description) for name, description in READER_COMMANDS]
    await application.bot.set_my_commands(commands)


async def close_services(application: NewsApp) -> None:
    """Stop the dispatcher (recording what it sent), then close the fetcher and the database."""
    data = application.bot_data
    if data.dispatcher is not None:
        await data.dispatcher.stop()
        if data.dispatcher_task is not None:
            await data.dispatcher_task
    if data.fetcher is not None:
        await data.fetcher.aclose()
    if data.db is not None:
        await data.db.close()
    data.dispatcher = data.fetcher = data.db = data.dispatcher_task = None


@contextlib.asynccontextmanager
async def running(application: NewsApp, *, poll_interval: float = 0.0) -> AsyncIterator[NewsApp]:
    """Run the application with long polling inside the current event loop (demo and tests).

    ``run_polling`` owns its event loop and signal handlers; this is the same sequence for
    callers that already have a loop.
    """
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(
            poll_interval=poll_interval,
            timeout=1,
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
        )
        try:
            yield application
        finally:
            if application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
    finally:
        try:
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
        finally:
            await application.shutdown()


def run_polling(settings: Settings) -> None:
    """Run the bot until interrupted (``newsbot run``)."""
    application = build_application(settings)
    application.run_polling(allowed_updates=Update.ALL_TYPES)
