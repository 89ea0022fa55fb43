"""Chaos: the PostgreSQL server restarted under a broadcast, the bot running on as one process.

The bot is a real ``newsbot run --role all`` process; Telegram is the emulator in its own process at
the paid-broadcast ceiling; the server is this test's own (restarting the session's would end the
other tests' connections). A quarter of the way through the broadcast the server is restarted
(``pg_ctl restart -m fast``: every session is ended). The bot must keep running and finish the
broadcast: every reader gets the item, the sends doubled are at most those that can have been in
flight and unrecorded at the restart, and Telegram never answers 429.

On loopback the bot would hear every session's end at once and its pool would quietly replace the
idle connections. Across a NAT, a load balancer or a failover the goodbye can be lost, and the pool
hands out connections that are dead: the bot reaches the server through StaleLinks, which drops
the goodbye of every idle session. Once the server is back, nothing may fail and back off on those.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.delivery.ratelimit import Rates
from bot.emulator import EmulatorClient
from bot.storage import open_database
from tests.conftest import FeedItemSpec
from tests.pgserver import PostgresServer
from tests.test_chaos_workers import (
    FIRST_READER,
    PAID,
    SHARDS,
    TITLE,
    Cluster,
    HoldingFeed,
    Inbox,
    busiest_window,
    feed,  # noqa: F401 (the fixture, used by name)
    seed,
    shard_holders,
    wait_for,
)

READERS = 4_000  # four seconds at the ceiling: long enough to restart in the middle of it
# The end of a ReadyForQuery message but its status byte: the server waits for the client's next
# statement, so the link is idle.
READY_FOR_QUERY = b"Z\x00\x00\x00\x05"


class StaleLinks:
    """A TCP relay to the server that keeps from an idle client that the server ended its session.

    A link the server ends while idle (its last words were ReadyForQuery, nothing asked since)
    stays open and silent, its goodbye dropped; the client learns of it when it next sends, from a
    reset. A link ended in the middle of a statement is closed at once, as without the relay.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.stale = 0  # links whose goodbye was dropped
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> StaleLinks:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in self._links:
            link.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    def url(self, direct: str) -> str:
        return direct.replace(f":{self.upstream_port}/", f":{self.port}/")

    async def _serve(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        link = asyncio.current_task()
        assert link is not None
        self._links.add(link)
        try:
            try:
                server, to_server = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            except OSError:
                return  # the server is down: the client is told so, by the close below
            try:
                await self._relay(client, to_client, server, to_server)
            finally:
                to_server.close()
        finally:
            to_client.close()
            self._links.discard(link)

    async def _relay(
        self,
        client: asyncio.StreamReader,
        to_client: asyncio.StreamWriter,
        server: asyncio.StreamReader,
        to_server: asyncio.StreamWriter,
    ) -> None:
        idle = False
        held = b""  # what the server said on an idle link: forwarded if it was not a goodbye

        async def upstream() -> None:
            nonlocal idle, held
            while data := await client.read(65536):
                idle = False
                if held:
                    to_client.write(held)
                    held = b""
                to_server.write(data)
                await to_server.drain()

        async def downstream() -> None:
            nonlocal idle, held
            while data := await server.read(65536):
                if idle:
                    held += data
                    continue
                to_client.write(data)
                await to_client.drain()
                idle = data[-6:-1] == READY_FOR_QUERY

        sending = asyncio.create_task(upstream())
        receiving = asyncio.create_task(downstream())
        try:
            await asyncio.wait({sending, receiving}, return_when=asyncio.FIRST_COMPLETED)
            if receiving.done() and idle and not sending.done():
                # The server ended an idle session: say nothing, and cut the link when the client
                # next speaks, as a peer that lost the session would answer it.
                self.stale += 1
                sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
                await client.read(1)
                to_client.transport.abort()
        finally:
            for task in (sending, receiving):
                task.cancel()
            await asyncio.gather(sending, receiving, return_exceptions=True)


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    with PostgresServer() as own:
        yield own


@pytest.fixture
async def relay(server: PostgresServer) -> AsyncIterator[StaleLinks]:
    async with StaleLinks(server.port) as links:
        yield links


def failures_after(log: str, moment: float) -> list[str]:
    """The supervisor's failure lines logged after ``moment`` (the log's local-time stamps)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment)) + f",{int(moment % 1 * 1000):03d}"
    return [
        line[:300]
        for line in log.splitlines()
        if line[:23] > stamp and (" failed; retrying in " in line or " failed again (" in line)
    ]


@pytest.mark.timeout(180)  # ~25 s here
async def test_a_server_restart_mid_broadcast_loses_nothing_and_stops_nobody(
    tmp_path: Path, server: PostgresServer, relay: StaleLinks, feed: HoldingFeed  # noqa: F811
) -> None:
    url = await server.make_database()
    old = FeedItemSpec(guid="old", title="Yesterday's news", link="https://news.example/old")
    feed.set_rss("/rss.xml", [old])
    await seed(url, readers=READERS)
    cluster = Cluster(tmp_path, relay.url(url), feed, readers=READERS)
    # The test's own handle meets the restart too: its reads go through the same recovery.
    db = await open_database(url)
    try:
        await cluster.start_emulator()
        async with EmulatorClient(cluster.api_url + "/control") as control:
            bot = await cluster.start_worker("all", 0)

            async def ready() -> bool:
                seeded = await db.scalar("SELECT seeded FROM sources WHERE id = 'wire'")
                holders = await shard_holders(db)
                return bool(seeded) and sum(len(shards) for shards in holders.values()) == SHARDS

            await wait_for("the first poll and every shard leased", cluster, db, ready, 30)
            feed.set_rss(
                "/rss.xml", [FeedItemSpec(guid="new", title=TITLE, link="https://news.example/new"), old]
            )
            inbox = Inbox(control)

            async def a_quarter() -> bool:
                return len(await inbox.read()) >= READERS // 4

            await wait_for("a quarter of the broadcast", cluster, db, a_quarter, 30)
            restart_began = time.time()
            await asyncio.to_thread(server.restart)
            restarted_at = time.time()
            reached_before = len(await inbox.read())

            async def everyone() -> bool:
                await inbox.read()
                return len(inbox.chats()) >= READERS

            await wait_for("every reader's item after the restart", cluster, db, everyone, 40)
            await asyncio.sleep(1.5)  # anything more would be a double
            await inbox.read()
            stats = await control.stats()
            cluster.check_alive()
            # It stops as it should, too: a supervisor gone wrong would hang or exit with an error.
            bot.process.send_signal(signal.SIGTERM)
            returncode = await asyncio.wait_for(bot.process.wait(), 30)
            log = bot.log.read_text(errors="replace")
    finally:
        await cluster.close()
        await db.close()

    counts = inbox.chats()
    doubles = sum(n - 1 for n in counts.values() if n > 1)
    times = [float(m["t"]) for m in inbox.bulletins]
    during = sum(1 for t in times if restart_began <= t <= restarted_at)
    # The limiter never has more than one second's worth of sends in flight or answered, and an
    # answer is recorded (or kept to be recorded) within FLUSH_EVERY: what the restart can leave
    # sent but unrecorded, and so sent again, is no more than that window.
    bound = Rates(PAID, 1.0, 20.0).global_per_window
    print(
        f"\nrestart chaos: {len(counts)} readers, {len(times)} messages, {doubles} doubles (bound {bound});"
        f" restart took {restarted_at - restart_began:.2f} s with {reached_before} sent before its end"
        f" and {during} during it; 429s {stats['429']};"
        f" broadcast {max(times) - min(times):.1f} s; busiest second {busiest_window(times)};"
        f" {relay.stale} idle links lost their goodbye;"
        f" log: {log.count('Traceback')} tracebacks, {log.count(' WARNING ')} warnings,"
        f" {log.count(' ERROR ')} errors; exit {returncode}"
    )
    assert returncode == 0, log[-3000:]
    assert relay.stale, "no idle connection lost its goodbye: the test tests nothing"
    assert not failures_after(log, restarted_at), "\n".join(failures_after(log, restarted_at))
    assert set(counts) == set(range(FIRST_READER, FIRST_READER + READERS))
    assert doubles <= bound
    assert stats["429"] == 0, stats["429_by_scope"]
    assert busiest_window(times) <= PAID
