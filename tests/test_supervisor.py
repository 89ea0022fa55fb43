"""The supervisor: a failed step is counted, backed off, retried, and reported once each way."""

from __future__ import annotations

import asyncio
import sqlite3

from bot.i18n import translator
from bot.supervisor import Note, Supervisor


class Admins:
    def __init__(self) -> None:
        self.told: list[str] = []

    async def __call__(self, note: Note) -> None:
        self.told.append(note(translator("en")))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_failing_job_is_backed_off_reported_once_and_once_on_recovery() -> None:
    admins, clock = Admins(), Clock()
    supervisor = Supervisor(admins, first_delay=2.0, max_delay=8.0, clock=clock)
    runs = 0
    broken = True

    async def poll() -> None:
        nonlocal runs
        runs += 1
        if broken:
            raise sqlite3.OperationalError("database is locked")

    assert not await supervisor.step("ingest", "source:a", poll)
    assert not await supervisor.step("ingest", "source:a", poll)  # backing off: not even run
    assert runs == 1
    clock.now += 2.0
    assert not await supervisor.step("ingest", "source:a", poll)
    assert runs == 2
    clock.now += 2.0  # the delay doubled to 4 s
    assert not await supervisor.step("ingest", "source:a", poll)
    assert runs == 2
    assert len(admins.told) == 1
    assert "ingest" in admins.told[0] and "database is locked" in admins.told[0]
    assert supervisor.health["ingest"].errors == 2
    assert "ingest 2 (failing now: ingest)" in supervisor.summary()

    broken = False
    clock.now += 2.0
    assert await supervisor.step("ingest", "source:a", poll)
    assert len(admins.told) == 2 and "recovered" in admins.told[1]
    assert supervisor.summary() == "task errors since start: ingest 2"


async def test_one_failing_source_does_not_hold_back_the_others() -> None:
    admins, clock = Admins(), Clock()
    supervisor = Supervisor(admins, clock=clock)
    polled: list[str] = []

    async def bad() -> None:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    async def good() -> None:
        polled.append("b")

    await supervisor.step("ingest", "source:a", bad)
    await supervisor.step("ingest", "source:a", bad)
    assert await supervisor.step("ingest", "source:b", good)
    assert polled == ["b"]
    assert len(admins.told) == 1  # the good source neither reports nor "recovers" anything


async def test_a_failing_job_whose_work_went_away_no_longer_keeps_its_kind_failing() -> None:
    # A story's fan-out fails, then the story is deleted: nothing will ever run that job again.
    admins, clock = Admins(), Clock()
    supervisor = Supervisor(admins, first_delay=2.0, clock=clock)

    async def bad() -> None:
        raise sqlite3.IntegrityError("CHECK constraint failed")

    await supervisor.step("fan-out", "fan-out of article 7", bad)
    assert supervisor.waiting("fan-out of article 7")
    assert not supervisor.waiting("fan-out of article 8")
    assert supervisor.failing("fan-out") == {"fan-out of article 7"}
    await supervisor.gone("fan-out", "fan-out of article 7")
    assert supervisor.failing("fan-out") == set()
    assert not supervisor.waiting("fan-out of article 7")
    assert len(admins.told) == 2 and "recovered" in admins.told[1]
    assert "failing now" not in supervisor.summary()


async def test_several_jobs_of_one_kind_failing_tell_admins_once_and_recover_once() -> None:
    admins, clock = Admins(), Clock()
    supervisor = Supervisor(admins, clock=clock)

    async def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    async def fine() -> None:
        return None

    for key in ("source:a", "source:b", "source:c"):
        await supervisor.step("ingest", key, locked)
    assert len(admins.told) == 1
    clock.now += 5
    await supervisor.step("ingest", "source:a", fine)
    await supervisor.step("ingest", "source:b", fine)
    assert len(admins.told) == 1  # source:c still fails
    await supervisor.step("ingest", "source:c", fine)
    assert len(admins.told) == 2 and "recovered" in admins.told[1]


async def test_long_running_task_that_raises_is_started_again() -> None:
    admins = Admins()
    supervisor = Supervisor(admins, first_delay=0.01, recover_after=0.1)
    starts = 0
    stop = asyncio.Event()

    async def dispatcher() -> None:
        nonlocal starts
        starts += 1
        if starts <= 3:
            raise sqlite3.OperationalError("database is locked")
        await stop.wait()

    task = supervisor.keep_running("delivery", dispatcher)
    for _ in range(200):
        if len(admins.told) == 2:
            break
        await asyncio.sleep(0.01)
    assert starts == 4
    assert len(admins.told) == 2
    assert "failing" in admins.told[0] and "recovered" in admins.told[1]
    assert supervisor.health["delivery"].errors == 3
    supervisor.stop()
    stop.set()
    await asyncio.wait_for(task, 1)


async def test_stop_ends_a_task_waiting_out_its_back_off() -> None:
    supervisor = Supervisor(Admins(), first_delay=60)

    async def always_fails() -> None:
        raise RuntimeError("boom")

    task = supervisor.keep_running("delivery", always_fails)
    await asyncio.sleep(0.05)
    supervisor.stop()
    await asyncio.wait_for(task, 1)


async def test_admins_unreachable_is_not_a_failure_of_the_task() -> None:
    async def telegram_down(text: str) -> None:
        raise ConnectionError("no route")

    supervisor = Supervisor(telegram_down)

    async def fails() -> None:
        raise RuntimeError("boom")

    assert not await supervisor.step("digests", "digests", fails)
    assert supervisor.health["digests"].errors == 1
