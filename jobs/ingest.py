"""Polling sources: one repeating job per source, each on its own interval, then their article pages."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from datetime import UTC, datetime, timedelta

from telegram.ext import Job, JobQueue

from bot.context import NewsContext
from bot.i18n import Translate
from bot.models import Source
from bot.news.ingest import PollReport, fetch_pages, poll_source
from bot.reading.summarize import page_summary
from bot.render.sources import failing_text, recovered_text
from bot.staff import tell_owners
from bot.storage import leases, outbox, sources

logger = logging.getLogger(__name__)

JOB_PREFIX = "source:"


def schedule_source(job_queue: JobQueue[NewsContext], source: Source, *, db_now: float | None = None) -> None:
    """(Re)start the polling job of one source: at once when it is due, else at its next poll.

    ``db_now`` is the database's clock (next_poll_at is on it); without it the job runs at once
    and the source is polled if due. Run at once whatever its next_poll_at, a source found not
    yet due would wait a whole interval from the start rather than until its time.
    """
    first = 0.0
    if db_now is not None and source.next_poll_at is not None:
        first = max(0.0, source.next_poll_at - db_now)
    first_run = datetime.now(UTC) + timedelta(seconds=first)
    job_queue.run_repeating(
        poll_job,
        interval=source.interval,
        first=first_run,
        name=JOB_PREFIX + source.id,
        data=source.id,
        job_kwargs={
            # Said outright: a job added before the scheduler starts (at start-up) whose first time
            # has passed when it does would be put off by APScheduler to one interval later.
            "next_run_time": first_run,
            # One job per source, replaced by its id: finding the old one by name walks every job,
            # which made scheduling 10,000 sources at start-up take minutes.
            "id": JOB_PREFIX + source.id,
            "replace_existing": True,
            # A poll that starts late (thousands fall due at once) is still wanted: never skipped
            # as missed (APScheduler's default grace is 1 s), and several missed runs are one poll.
            "misfire_grace_time": None,
            "coalesce": True,
        },
    )


def unschedule_source(job_queue: JobQueue[NewsContext], source_id: str) -> None:
    for job in job_queue.get_jobs_by_name(JOB_PREFIX + source_id):
        job.schedule_removal()


async def poll_job(context: NewsContext) -> None:
    """Poll a source under the supervisor: an error of one poll is reported once, never fatal."""
    assert context.job is not None
    await context.supervisor.step("ingest", context.job.name or JOB_PREFIX, lambda: _poll(context))


async def _poll(context: NewsContext) -> None:
    """Poll a source when it is due (its back-off may say not yet) and wake the dispatcher."""
    assert context.job is not None
    # Read before waiting for a slot: the scheduler moves next_t on if the job falls due meanwhile.
    due = _due(context.job, time.time())
    # Thousands of sources fall due together. Unbounded, their queries queue up in front of
    # everything else this process writes, the workers' heartbeat too, which then misses its lease.
    async with context.bot_data.poll_slots:
        if not context.application.running:
            # Stopping: the job queue waits for every job that started, so the polls still waiting
            # here are left to another worker or the next start rather than holding the exit up.
            return
        await _poll_due(context, due)


async def _poll_due(context: NewsContext, due: float) -> None:
    assert context.job is not None
    source = await sources.get_source(context.db, source_id=str(context.job.data))
    now = time.time()
    if source is None:
        context.job.schedule_removal()
        return
    if source.paused:
        return
    # next_poll_at is on the database's clock (claims are judged by it), not this machine's, which
    # may run ahead or behind. A run that started late (thousands fall due together) is judged as
    # of its scheduled time: the lateness, measured on this machine's clock, is taken off the
    # database's.
    late = max(0.0, now - due)
    server_now = await leases.server_time(context.db)
    due_on_server = server_now - late
    if source.next_poll_at is not None and source.next_poll_at > due_on_server + 0.05:
        return
    if context.bot_data.workers is not None:
        # Other ingest workers fire the same job: the one whose claim lands polls, once.
        claim = context.settings.workers.poll_claim_seconds
        if not await sources.claim_poll(
            context.db, source_id=source.id, now=due_on_server, seconds=claim + late, early=0.05
        ):
            return
    metrics = context.bot_data.metrics
    # Touched before the poll, so a source that never failed shows 0 rather than no series.
    failures = metrics.poll_failures.labels(source.id) if metrics is not None else None
    started = time.perf_counter()
    try:
        report = await poll_source(
            context.db,
            context.fetcher,
            source,
            now=now,
            tz=context.settings.bot.tz,
            max_backoff=context.settings.ingest.max_backoff,
            due=due_on_server,
            db_now=server_now,
        )
    except Exception:
        if failures is not None:
            failures.inc()
        raise
    finally:
        if metrics is not None:
            metrics.poll_seconds.labels(source.id).observe(time.perf_counter() - started)
    if metrics is not None and failures is not None:
        if report.error is not None:
            failures.inc()
        for size in report.fan_outs:
            metrics.fan_out_size.observe(size)
    if report.queued and context.bot_data.dispatcher is not None:
        context.dispatcher.wake()
    await _tell_admins_about_health(context, source, report)
    # Only now, with the new items queued and the dispatcher awake, read their pages.
    if context.settings.ingest.fetch_articles:
        await fetch_pages(context.db, context.fetcher, source, now=time.time(), summarizer=page_summary)


def _due(job: Job[NewsContext], now: float) -> float:
    """When this run of the job was scheduled: thousands of sources fall due together, and run late."""
    next_t = job.next_t  # the scheduler moves it on before the run starts
    interval = getattr(job.job.trigger, "interval", None)
    if next_t is None or interval is None:
        return now
    return min(now, next_t.timestamp() - float(interval.total_seconds()))


async def _tell_admins_about_health(context: NewsContext, source: Source, report: PollReport) -> None:
    """Once when a source starts failing, once when it recovers; never on every failed poll.

    The database says which poll changed the state (its failure count went from 0 to 1, or back
    to 0), so with several ingest workers, and across restarts, only that poll's worker tells.
    """
    error = report.error
    owners = context.settings.bot.admins
    if not owners or not (report.failures == 1 if error is not None else report.recovered):
        return

    def note(tr: Translate) -> str:
        return failing_text(source, error, tr) if error is not None else recovered_text(source, tr)

    language = context.settings.bot.language
    await tell_owners(context.bot, context.db, owners, note, default_language=language)


async def sync_sources(context: NewsContext) -> None:
    """Several workers: schedule sources another worker added, drop the removed ones (every few s)."""
    job_queue = context.job_queue
    assert job_queue is not None
    known = {job.name: job for job in job_queue.jobs() if job.name and job.name.startswith(JOB_PREFIX)}
    current = await sources.list_sources(context.db)
    db_now = await leases.server_time(context.db)
    for source in current:
        job = known.pop(JOB_PREFIX + source.id, None)
        interval = getattr(job.job.trigger, "interval", None) if job is not None else None
        if job is None or (interval is not None and interval.total_seconds() != source.interval):
            schedule_source(job_queue, source, db_now=db_now)  # type: ignore[arg-type]  # PTB: JobQueue[ST]
    for job in known.values():
        job.schedule_removal()


FAN_OUT_TICK = 1.0  # seconds between runs of continue_fan_outs
FAN_OUT_BUSY = 0.8  # seconds of slices a run does at most, so that runs never overlap
FAN_OUT_PAUSE = 0.005  # seconds between slices: the writer is free for sends and polls


FAN_OUT_KEY = "fan-out of article "


def fan_out_key(article_id: int) -> str:
    """The supervisor's name for one story's fan-out."""
    return f"{FAN_OUT_KEY}{article_id}"


async def _one_slice(context: NewsContext, article_id: int, outcome: list[outbox.Slice | None]) -> None:
    outcome.append(await outbox.continue_fan_out(context.db, now=time.time(), article_id=article_id))


async def continue_fan_outs(context: NewsContext) -> None:
    """Queue large audiences a slice of chats at a time (every second, while any is under way).

    Each story's slices are steps of their own under the supervisor: a story whose slice keeps
    failing (a bad row, a constraint) backs off alone while the other stories go on, instead of
    holding them all back as the most urgent.
    """
    started = time.monotonic()
    supervisor = context.supervisor
    metrics = context.bot_data.metrics
    while time.monotonic() - started < FAN_OUT_BUSY:
        under_way = await outbox.fan_outs(context.db)
        keys = {fan_out_key(article_id) for article_id in under_way}
        for key in supervisor.failing("fan-out"):
            if key.startswith(FAN_OUT_KEY) and key not in keys:
                await supervisor.gone("fan-out", key)  # deleted, or finished by another worker
        ready = [article_id for article_id in under_way if not supervisor.waiting(fan_out_key(article_id))]
        if not ready:
            return
        article_id = ready[0]
        outcome: list[outbox.Slice | None] = []
        one_slice = functools.partial(_one_slice, context, article_id, outcome)
        if not await supervisor.step("fan-out", fan_out_key(article_id), one_slice):
            continue  # logged, counted and backing off: the next story's turn
        done = outcome[0]
        if done is None:
            continue  # finished by another worker meanwhile
        if done.added and context.bot_data.dispatcher is not None:
            context.dispatcher.wake()
        if done.taken_down:
            logger.info(
                "Fan-out of article %d stopped: it was taken down after %d deliveries in %d slices",
                done.article_id,
                done.total,
                done.slices,
            )
        elif done.finished:
            logger.info(
                "Fan-out of article %d done: %d deliveries queued in %d slices, %.1f s",
                done.article_id,
                done.total,
                done.slices,
                done.seconds,
            )
            if metrics is not None:
                metrics.fan_out_size.observe(done.total)
        await asyncio.sleep(FAN_OUT_PAUSE)
