"""The composition root: the one place that builds the application and wires everything.

Only this module imports ``handlers`` and ``jobs``; everything else in ``bot`` knows neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.ext.filters import UpdateType

from bot.budget import CommandBudget
from bot.channels import make_channel_sender, options_of
from bot.config import Settings, WebhookSettings
from bot.context import BotData, NewsContext
from bot.delivery.aiohttp_request import AiohttpRequest
from bot.delivery.chat_order import PerChatUpdateProcessor
from bot.delivery.dispatcher import Dispatcher, in_flight_for
from bot.delivery.ratelimit import Limiter, Rates
from bot.delivery.sender import make_batch_sender, make_list_sender, make_sender
from bot.delivery.shared_limiter import SharedRateLimiter
from bot.errors import ConfigError, TelegramUnavailable
from bot.i18n import translator, warn_uncompiled
from bot.menus import set_all_menus
from bot.metrics import Metrics
from bot.news.fetcher import Fetcher
from bot.render.callbacks import (
    BROADCAST,
    FORGET,
    OPTION,
    RELATED,
    REMOVE,
    REVIEW,
    SEARCH_PAGE,
    SOURCE_ADD,
    SUBSCRIBE,
    SUMMARY,
)
from bot.render.callbacks import LANGUAGE as LANGUAGE_BUTTON
from bot.reports import ErrorReports
from bot.staff import tell_owners
from bot.storage import channels as channel_store
from bot.storage import leases, open_database, search, sources, watch
from bot.storage.connection import InstanceLock
from bot.storage.outbox import Shards
from bot.storage.postgres import PostgresDatabase
from bot.supervisor import Note, Supervisor
from bot.watching import Watcher
from bot.workers import PERIODIC, Roles, ShardBalancer, Workers, check_role
from handlers import admin, dataio, gates, language, membership, moderation, reading, start, subscriptions
from handlers import channels as channel_admin
from handlers import settings as chat_settings
from handlers import sources as source_admin
from handlers.errors import on_error, report_held
from jobs import channels as channel_jobs
from jobs import digest, ingest, maintenance

logger = logging.getLogger(__name__)

# The name PTB gives its getUpdates loop task (telegram.ext.Updater.start_polling).
POLLING_TASK = "Updater:start_polling:polling_task"
SOURCE_SYNC = 10.0  # seconds: how soon an ingest worker polls a source another worker added

NewsApp = Application[Any, NewsContext, dict[Any, Any], dict[Any, Any], BotData, Any]


def build_application(settings: Settings) -> NewsApp:
    """Build the PTB application for these settings; nothing connects until it starts."""
    settings.require_token()
    api = settings.bot.api_url.rstrip("/")
    delivery = settings.delivery
    global_rate = delivery.paid_per_second if delivery.paid_broadcast else delivery.global_per_second
    proxy = settings.bot.proxy.get() or None
    limiter = Limiter(
        Rates(
            global_rate,
            delivery.chat_per_second,
            delivery.group_per_minute,
            delivery.headroom,
            chat_burst=delivery.chat_burst,
        )
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
        # Commands of different chats run side by side (storage serialises its own writes);
        # one chat's updates run in the order they came, so its replies come in that order too.
        .concurrent_updates(PerChatUpdateProcessor())
        .rate_limiter(SharedRateLimiter(limiter))
        # aiohttp instead of PTB's default httpx stack: a third of the CPU per message. The pool
        # holds the dispatcher's sends in flight plus room for replies.
        .request(AiohttpRequest(connection_pool_size=in_flight_for(global_rate) + 16, proxy=proxy))
        .get_updates_request(AiohttpRequest(connection_pool_size=1, proxy=proxy))
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
    # Every reply speaks the chat's language: read it before anything answers.
    application.add_handler(TypeHandler(Update, gates.chat_language), group=-4)
    # A banned user's commands, replies and presses stop here, before they spend anything.
    application.add_handler(MessageHandler(filters.ALL, gates.drop_banned), group=-3)
    application.add_handler(CallbackQueryHandler(gates.drop_banned), group=-3)
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
    command("language", language.language)
    application.add_handler(CallbackQueryHandler(language.on_language_button, pattern=f"^{LANGUAGE_BUTTON}:"))
    command("digest", chat_settings.digest)
    command("quiet", chat_settings.quiet)
    command("timezone", chat_settings.timezone)
    command("settings", chat_settings.settings_command)
    application.add_handler(CallbackQueryHandler(chat_settings.on_settings_button, pattern=f"^{OPTION}:"))
    command("latest", reading.latest)
    command("summary", reading.summary_command)
    command("related", reading.related_command)
    command("search", reading.search_command)
    # A reader's own data (/export, /forget) and the admins' OPML (/export sources, /import).
    command("export", dataio.export_command)
    command("forget", dataio.forget_command)
    application.add_handler(CallbackQueryHandler(dataio.on_forget_button, pattern=f"^{FORGET}:"))
    command("import", dataio.import_command)
    application.add_handler(MessageHandler(filters.Document.ALL & posts, dataio.on_document))
    application.add_handler(
        CallbackQueryHandler(reading.on_reading_button, pattern=f"^({SUMMARY}|{RELATED}|{SEARCH_PAGE}):")
    )
    application.add_handler(InlineQueryHandler(reading.inline_query))
    # A link sent on its own in a private chat gets its summary.
    application.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE
            & filters.TEXT
            & ~filters.COMMAND
            & filters.Regex(r"^\s*https?://\S+\s*$"),
            reading.url_message,
        )
    )
    command("stats", admin.stats)
    command("sources", source_admin.list_sources)
    command("source_add", source_admin.add_source)
    application.add_handler(CallbackQueryHandler(source_admin.on_add_button, pattern=f"^{SOURCE_ADD}:"))
    command("source_remove", source_admin.remove_source)
    command("source_pause", source_admin.pause_source)
    command("source_resume", source_admin.resume_source)
    application.add_handler(ChatMemberHandler(membership.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    # Staff: roles, bans, audit, review, takedown, channels. Each checks the role itself.
    for name, callback in (
        ("admins", moderation.admins),
        ("promote", moderation.promote),
        ("demote", moderation.demote),
        ("audit", moderation.audit),
        ("ban", moderation.ban),
        ("unban", moderation.unban),
        ("banned", moderation.banned),
        ("queue", moderation.queue),
        ("approve", moderation.approve),
        ("reject", moderation.reject),
        ("blocklist", moderation.blocklist),
        ("takedown", moderation.takedown),
        ("broadcast", moderation.broadcast),
        ("channel_add", channel_admin.channel_add),
        ("channel_remove", channel_admin.channel_remove),
        ("channels", channel_admin.list_channels),
    ):
        command(name, callback)
    application.add_handler(CallbackQueryHandler(moderation.on_review_button, pattern=f"^{REVIEW}:"))
    application.add_handler(CallbackQueryHandler(moderation.on_broadcast_button, pattern=f"^{BROADCAST}:"))
    application.add_handler(
        MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, moderation.on_edit_reply)
    )
    # A second group: the bot's rights in a channel matter to posting as well as to membership.
    application.add_handler(
        ChatMemberHandler(channel_admin.channel_membership, ChatMemberHandler.MY_CHAT_MEMBER), group=1
    )
    # Keep last in group 0: a button no handler above claims (forged, or from an older
    # version) is still answered, so the reader's client stops spinning.
    application.add_handler(CallbackQueryHandler(subscriptions.on_stale_button))
    # Keep last of all: every real command, whoever adds it above, wins over this pointer to /help.
    application.add_handler(MessageHandler(commands, start.unknown_command))
    application.add_error_handler(on_error)


async def open_services(application: NewsApp) -> None:
    """Open storage, the fetcher and the dispatcher; schedule the jobs. Tests call this too."""
    data = application.bot_data
    settings = data.settings
    assert settings is not None
    warn_uncompiled()  # a language without its compiled catalog would quietly be English
    roles = Roles.of(settings)
    # ``serve`` opens the database before it contacts Telegram, to fail fast; tests come here first.
    data.db = db = data.db if data.db is not None else await open_database(settings.bot.db)
    data.fetcher = Fetcher(**settings.ingest.fetcher_options())
    if roles.ingest:
        await _sync_configured(application)
    delivery = settings.delivery
    rate_limiter = application.bot.rate_limiter
    assert isinstance(rate_limiter, SharedRateLimiter)

    async def tell_admins(note: Note) -> None:
        await tell_owners(
            application.bot, db, settings.bot.admins, note, default_language=settings.bot.language
        )

    data.supervisor = supervisor = Supervisor(tell_admins, translate=translator(settings.bot.language))
    send = make_sender(
        application.bot,
        default_tz=settings.bot.timezone,
        default_language=settings.bot.language,
        paid_broadcast=delivery.paid_broadcast,
        send_channel=make_channel_sender(application.bot, db),
    )
    send_batch = make_batch_sender(
        make_list_sender(application.bot),
        default_tz=settings.bot.timezone,
        default_language=settings.bot.language,
    )
    if settings.bot.metrics:
        # Timed around the send functions, so the dispatcher's own loop carries no instrument.
        data.metrics = metrics = Metrics(lambda: data.dispatcher.counters if data.dispatcher else None)
        send, send_batch = metrics.timed(send), metrics.timed(send_batch)
    # Every role has one (handlers wake it, /stats reads its counters); only dispatch roles run it.
    # With several workers it starts with no shards: the balancer hands it the ones it leases.
    data.dispatcher = dispatcher = Dispatcher(
        db=db,
        send=send,
        limiter=rate_limiter.limiter,
        stale_after=delivery.stale_after,
        give_up_after=delivery.give_up_after,
        send_batch=send_batch,
        default_tz=settings.bot.timezone,
        shards=Shards(settings.workers.shards, frozenset()) if roles.shared else None,
    )
    if roles.shared:
        await _start_workers(application, roles)
    if roles.dispatch:
        # Not application.create_task: the application is not running yet during post_init. After a
        # failure the supervisor calls run() again on the same dispatcher, which first records what
        # the failed run could not, then reclaims its rows.
        data.dispatcher_task = supervisor.keep_running("delivery", dispatcher.run)

    job_queue = application.job_queue
    assert job_queue is not None, "install python-telegram-bot[job-queue]"
    if roles.ingest:
        await _schedule_ingest(application)
    else:
        # Sources added here are polled by the ingest workers, which look for new ones every few s.
        data.schedule_source = lambda source, **_: None
        data.unschedule_source = lambda source_id: None
    if roles.dispatch:
        job_queue.run_repeating(maintenance.nudge_dispatcher, interval=5, first=5, name="nudge-dispatcher")
    if roles.ingest:
        await _schedule_periodic(application)
    if roles.updates:
        # Readers get their menu per language; owners and staff their own, with the staff commands.
        await set_all_menus(
            application.bot, db, owners=settings.bot.admins, default_language=settings.bot.language
        )
    if data.metrics is not None:
        scheduler = job_queue.scheduler
        data.watcher = watcher = Watcher(
            db,
            data.metrics,
            supervisor=supervisor,
            dispatcher_task=lambda: data.dispatcher_task,
            pollers_running=lambda: bool(scheduler.running),
            updates_running=lambda: application.updater is not None and application.updater.running,
            roles=roles,
            workers=data.workers,
        )
        await watcher.start(settings.bot.metrics)
    await _log_start(application)


async def _sync_configured(application: NewsApp) -> None:
    """Bring the configured sources and channels into the database; index what search lacks."""
    data = application.bot_data
    settings = data.settings
    db = data.db
    assert settings is not None and db is not None
    # Articles stored before the search index existed are indexed once, here.
    indexed = await search.index_missing(db)
    if indexed:
        logger.info("Indexed %d articles for search", indexed)
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
    for source_id in await sources.retire_unconfigured(db, configured=[s.id for s in settings.sources]):
        logger.warning(
            "Source %s is no longer in the config file: paused and kept with its articles;"
            " /source_remove %s deletes it",
            source_id,
            source_id,
        )
    await channel_store.sync_configured(
        db, channels=[(c.chat, options_of(c)) for c in settings.channels], now=time.time()
    )


async def _start_workers(application: NewsApp, roles: Roles) -> None:
    """Several workers on PostgreSQL: take this one's leases, then keep them by heartbeat."""
    data = application.bot_data
    settings = data.settings
    assert settings is not None and data.db is not None and data.dispatcher is not None
    if isinstance(data.db, PostgresDatabase):
        data.lease_db = await data.db.dedicated()
    data.workers = workers = Workers(data.db, settings.workers, roles, lease_db=data.lease_db)
    if roles.dispatch:
        rate_limiter = application.bot.rate_limiter
        assert isinstance(rate_limiter, SharedRateLimiter)
        delivery = settings.delivery
        workers.balancer = ShardBalancer(
            data.db,
            workers.keeper,
            count=settings.workers.shards,
            dispatcher=data.dispatcher,
            limiter=rate_limiter.limiter,
            global_per_second=(
                delivery.paid_per_second if delivery.paid_broadcast else delivery.global_per_second
            ),
            reply_headroom=settings.workers.reply_headroom,
        )
    if roles.updates and not settings.webhook.url:
        updater = application.updater
        assert updater is not None

        async def start() -> None:
            await _start_polling(application, long_poll=elected_long_poll(settings.workers.lease_seconds))

        async def stop() -> None:
            if updater.running:
                await updater.stop()

        workers.elect_poller(start, stop)
    logger.info("Worker %s (%s) on %s", workers.keeper.holder, settings.workers.role, data.db.name)
    # The first heartbeat before anything runs: the dispatcher starts with its shards.
    await workers.keeper.renew()
    if workers.balancer is not None:
        await workers.balancer.balance()
    data.workers_task = asyncio.get_running_loop().create_task(workers.run(), name="workers")


def elected_long_poll(lease_seconds: float) -> int:
    """getUpdates' long poll for an elected poller: it ends well within the lease's stop margin."""
    return max(1, int(lease_seconds / 10))


async def _schedule_ingest(application: NewsApp) -> None:
    """One polling job per source (on every ingest worker: a claim decides who polls)."""
    data = application.bot_data
    job_queue = application.job_queue
    assert job_queue is not None and data.db is not None
    # Due sources (never polled, or due while the bot was down) at once, the others at their time.
    db_now = await leases.server_time(data.db)
    for source in await sources.list_sources(data.db):
        ingest.schedule_source(job_queue, source, db_now=db_now)
    data.schedule_source = functools.partial(ingest.schedule_source, job_queue)
    data.unschedule_source = functools.partial(ingest.unschedule_source, job_queue)
    # Audiences larger than one slice of chats: the rest after the first slice, queued with the story.
    job_queue.run_repeating(
        supervised("fan-out", ingest.continue_fan_outs),
        interval=ingest.FAN_OUT_TICK,
        first=ingest.FAN_OUT_TICK,
        name="fan-out",
    )
    if data.workers is not None:
        # Sources added or removed through another worker (an admin's command) reach this one.
        job_queue.run_repeating(
            supervised("ingest", ingest.sync_sources),
            interval=SOURCE_SYNC,
            first=SOURCE_SYNC,
            name="sync-sources",
        )


async def _schedule_periodic(application: NewsApp) -> None:
    """The periodic jobs; with several workers only the holder of the "periodic" lease runs them."""
    job_queue = application.job_queue
    assert job_queue is not None
    workers = application.bot_data.workers

    def periodic(
        kind: str, callback: Callable[[NewsContext], Awaitable[None]]
    ) -> Callable[[NewsContext], Coroutine[Any, Any, None]]:
        job = supervised(kind, callback)
        if workers is None:
            return job
        keeper = workers.keeper

        async def singleton(context: NewsContext) -> None:
            # Stopped mid-way when the lease is lost: the worker taking it over runs it next.
            await keeper.guarded(PERIODIC, lambda: job(context))

        singleton.__name__ = job.__name__
        return singleton

    job_queue.run_repeating(
        periodic("channels", channel_jobs.tick), interval=channel_jobs.TICK, first=1, name="channels"
    )
    job_queue.run_repeating(periodic("digests", digest.send_digests), interval=60, first=10, name="digests")
    job_queue.run_repeating(
        periodic("maintenance", maintenance.prune_articles), interval=3600, first=60, name="prune-articles"
    )
    job_queue.run_repeating(
        periodic("error reports", report_held), interval=60, first=60, name="error-reports"
    )
    job_queue.run_repeating(
        periodic("maintenance", maintenance.compact_deliveries),
        interval=3600,
        first=120,
        name="compact-deliveries",
    )
    if workers is not None:
        job_queue.run_repeating(
            periodic("maintenance", maintenance.forget_dead_leases),
            interval=3600,
            first=180,
            name="forget-dead-leases",
        )


async def _log_start(application: NewsApp) -> None:
    """One line saying which bot runs on which database, with what; nothing secret."""
    data = application.bot_data
    assert data.db is not None
    queue = await watch.queue_figures(data.db, now=time.time())
    logger.info(
        "Started @%s on %s: %d sources, %d active chats, %d deliveries queued",
        application.bot.username,
        data.db.name,
        len(await watch.source_figures(data.db)),
        queue.chats.get("active", 0),
        queue.depth,
    )


def supervised(
    kind: str, callback: Callable[[NewsContext], Awaitable[None]]
) -> Callable[[NewsContext], Coroutine[Any, Any, None]]:
    """A repeating job whose failures the supervisor logs, counts, backs off and reports once."""

    async def job(context: NewsContext) -> None:
        name = context.job.name if context.job is not None and context.job.name else kind
        await context.supervisor.step(kind, name, lambda: callback(context))

    job.__name__ = getattr(callback, "__name__", kind)
    return job


async def close_services(application: NewsApp) -> None:
    """Stop the dispatcher (recording what it sent), then close the fetcher and the database."""
    data = application.bot_data
    if data.watcher is not None:
        await data.watcher.stop()
        data.watcher = None
    side = data.channel_side_task
    if side is not None and not side.done():
        # Review cards and post edits are redone from the database at the next start.
        side.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await side
    data.channel_side_task = None
    if data.supervisor is not None:
        data.supervisor.stop()
    if data.dispatcher is not None:
        await data.dispatcher.stop()
        # Leases are still renewed while the dispatcher drains; given back once it is done.
        if data.dispatcher_task is not None:
            # A task that died (cancelled, or a BaseException the supervisor let through) must not
            # stop the shutdown half-way: the fetcher and the database still close.
            [ended] = await asyncio.gather(data.dispatcher_task, return_exceptions=True)
            if isinstance(ended, BaseException) and not isinstance(ended, asyncio.CancelledError):
                logger.error("The dispatcher had died", exc_info=ended)
    if data.workers_task is not None:
        data.workers_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await data.workers_task
        data.workers_task = None
    if data.workers is not None:
        await data.workers.stop()  # the others take over at once, not after the lease time
        data.workers = None
    if data.lease_db is not None:
        await data.lease_db.close()
        data.lease_db = None
    if data.fetcher is not None:
        await data.fetcher.aclose()
    if data.db is not None:
        await data.db.close()
    data.dispatcher = data.fetcher = data.db = data.dispatcher_task = data.supervisor = None
    data.metrics = None


@contextlib.asynccontextmanager
async def running(
    application: NewsApp, *, poll_interval: float = 0.0, long_poll: int = 1
) -> AsyncIterator[NewsApp]:
    """Run the application inside the current event loop, by webhook when its settings name one.

    ``run_polling`` and ``run_webhook`` own their event loop and signal handlers; this is the
    same sequence for callers that already have a loop (``serve``, the demo and tests).
    """
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        try:
            await _start_updates(application, poll_interval=poll_interval, long_poll=long_poll)
            try:
                yield application
            finally:
                try:
                    assert application.updater is not None
                    if application.updater.running:
                        # A webhook stays set: Telegram queues updates for the next start meanwhile.
                        await application.updater.stop()
                except TelegramError as exc:  # polling had already ended with it (a revoked token)
                    logger.warning("Polling had stopped: %s", _one_line(exc))
        finally:
            # Also when the updates could not start (a webhook port in use): else shutdown refuses.
            if application.running:
                await application.stop()
    finally:
        try:
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
        finally:
            await application.shutdown()


async def _start_updates(application: NewsApp, *, poll_interval: float, long_poll: int) -> None:
    """Start receiving updates: by webhook when the settings name one, else by long polling."""
    assert application.updater is not None
    settings = application.bot_data.settings
    if settings is not None and not Roles.of(settings).updates:
        return  # another worker takes the updates
    if settings is not None and settings.webhook.url:
        await _start_webhook(application, settings.webhook)
        return
    if application.bot_data.workers is not None:
        return  # long polling by one elected worker: the "updates" lease starts it (bot/workers.py)
    await _start_polling(application, poll_interval=poll_interval, long_poll=long_poll)


async def _start_polling(application: NewsApp, *, poll_interval: float = 0.0, long_poll: int) -> None:
    """Start long polling; ``bot_data.polling_watch`` hears when the polling task ends."""
    assert application.updater is not None
    await application.updater.start_polling(
        poll_interval=poll_interval,
        timeout=long_poll,
        allowed_updates=Update.ALL_TYPES,
        drop_pending_updates=False,
        # PTB's default logs a traceback per failed getUpdates; PTB retries, so one line is enough.
        error_callback=_polling_failed,
    )
    watch = application.bot_data.polling_watch
    if watch is not None:
        for task in asyncio.all_tasks():
            if task.get_name() == POLLING_TASK:
                task.add_done_callback(watch)


async def _start_webhook(application: NewsApp, webhook: WebhookSettings) -> None:
    """Set the webhook and serve it (plain HTTP: TLS ends at the proxy in front of it)."""
    assert application.updater is not None
    try:
        await application.updater.start_webhook(
            listen=webhook.listen_host,
            port=webhook.listen_port,
            url_path=webhook.url_path,
            webhook_url=webhook.url,
            # Without it anyone who finds the URL could post forged updates; PTB answers them 403.
            secret_token=webhook.secret.get() or None,
            allowed_updates=Update.ALL_TYPES,
            drop_pending_updates=False,
            # ``serve`` has set the same webhook already, with back-off; this covers a blip since.
            bootstrap_retries=5,
        )
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise ConfigError(
            "webhook.listen",
            f"cannot listen on {webhook.listen_host}:{webhook.listen_port}: {exc.strerror or exc}",
        ) from None
    # Not the URL: its path is often a secret of its own.
    logger.info("Receiving updates by webhook on %s:%d", webhook.listen_host, webhook.listen_port)


def _polling_failed(exc: TelegramError) -> None:
    logger.warning("Polling Telegram failed (retrying): %s", _one_line(exc))


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line for a log (the formatter still scrubs the token)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def connect(
    bot: ExtBot[None], stop: asyncio.Event, *, api_url: str, first_delay: float = 1.0, max_delay: float = 60.0
) -> bool:
    """Reach Telegram (getMe), retrying network errors with back-off; False when stopped first."""
    # A rejected token ends start-up at once with TelegramUnavailable: PTB's own InvalidToken
    # message quotes the token.
    delay = first_delay
    attempt = 1
    while True:
        try:
            await bot.initialize()
            return True
        except InvalidToken:
            await bot.shutdown()
            raise TelegramUnavailable(
                f"{api_url} rejected the bot token (revoked or mistyped?); check NEWSBOT_TOKEN or bot.token"
            ) from None
        except NetworkError as exc:  # TimedOut, 5xx and connection failures alike
            logger.warning(
                "Telegram is not reachable (attempt %d: %s); retrying in %.0f s",
                attempt,
                _one_line(exc),
                delay,
            )
        except BaseException:
            await bot.shutdown()  # else aiohttp warns of unclosed sessions on exit
            raise
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            await bot.shutdown()
            return False
        delay = min(delay * 2, max_delay)
        attempt += 1


async def set_webhook(
    bot: ExtBot[None],
    stop: asyncio.Event,
    webhook: WebhookSettings,
    *,
    first_delay: float = 1.0,
    max_delay: float = 60.0,
) -> bool:
    """Tell Telegram the webhook, retrying network errors with back-off; False when stopped first."""
    delay = first_delay
    attempt = 1
    while True:
        try:
            await bot.set_webhook(
                url=webhook.url,
                secret_token=webhook.secret.get() or None,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
                max_connections=40,  # PTB's figure, so its own setWebhook repeats ours exactly
            )
            return True
        except InvalidToken:
            raise TelegramUnavailable(
                "Telegram rejected the bot token; check NEWSBOT_TOKEN or bot.token"
            ) from None
        except BadRequest as exc:  # Telegram will not call this URL (unresolvable, bad port, ...)
            raise ConfigError("webhook.url", f"Telegram refused it: {_one_line(exc)}") from None
        except NetworkError as exc:
            logger.warning(
                "Telegram is not reachable to set the webhook (attempt %d: %s); retrying in %.0f s",
                attempt,
                _one_line(exc),
                delay,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return False
        delay = min(delay * 2, max_delay)
        attempt += 1


async def serve(settings: Settings) -> None:
    """Run the bot until SIGINT or SIGTERM (``newsbot run``): one process per SQLite file, any
    number of workers of each role on a PostgreSQL database."""
    check_role(settings)
    # Two bots on one SQLite file would send everything twice; on PostgreSQL leases share the work.
    lock = None if settings.bot.postgres else InstanceLock.acquire(settings.bot.db)
    try:
        application = build_application(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Open the database before waiting for Telegram: a bad file is reported at once.
        data = application.bot_data
        data.db = await open_database(settings.bot.db)
        try:
            if not await connect(application.bot, stop, api_url=settings.bot.api_url):
                return
            logger.info("Connected to Telegram as @%s", application.bot.username)
            # Only a worker that takes updates tells Telegram where to send them.
            takes_updates = Roles.of(settings).updates
            webhook = settings.webhook if settings.webhook.url and takes_updates else None
            if webhook is not None:
                try:
                    webhook_set = await set_webhook(application.bot, stop, webhook)
                except BaseException:
                    await application.bot.shutdown()  # else aiohttp warns of unclosed sessions
                    raise
                if not webhook_set:
                    await application.bot.shutdown()
                    return
            polling_error: BaseException | None = None

            def polling_ended(task: asyncio.Task[Any]) -> None:
                # PTB retries network errors itself and gives up only on a rejected token (or a
                # bug); a bot that no longer polls is deaf, so it stops and says why.
                nonlocal polling_error
                if application.updater is not None and not application.updater.running and not stop.is_set():
                    return  # stopped on purpose: this worker lost the "updates" lease to another
                polling_error = None if task.cancelled() else task.exception()
                stop.set()

            data.polling_watch = polling_ended
            async with running(application, long_poll=10):
                await stop.wait()
                logger.info("Stopping")
            if isinstance(polling_error, InvalidToken):
                raise TelegramUnavailable(
                    f"{settings.bot.api_url} rejected the bot token while running (revoked?);"
                    " check NEWSBOT_TOKEN or bot.token"
                )
            if polling_error is not None:
                raise TelegramUnavailable(f"polling Telegram stopped: {_one_line(polling_error)}")
        finally:
            if data.db is not None:  # running() closes it; this is for a failed connect
                await data.db.close()
                data.db = None
    finally:
        if lock is not None:
            lock.release()


def run_bot(settings: Settings) -> None:
    """Run the bot until interrupted (``newsbot run``), by long polling or by webhook."""
    asyncio.run(serve(settings))
