"""Digests: due chats in their own timezone get one list of what waited, once per slot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot.delivery.digest import send_due_digests
from bot.models import Article
from bot.storage import chats
from bot.storage.interface import Database
from tests.test_delivery_dispatcher import add_readers, db, publish, states

__all__ = ["db"]


class FakeLists:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int, str, list[int], str]] = []
        self.silent: list[bool] = []
        self.languages: list[tuple[int, str]] = []

    async def __call__(
        self,
        chat_id: int,
        thread_id: int,
        heading: str,
        items: Sequence[Article],
        tz: str,
        reserved: bool,
        language: str,
        *,
        silent: bool = False,
    ) -> int:
        self.sent.append((chat_id, thread_id, heading, [a.id for a in items], tz))
        self.silent.append(silent)
        self.languages.append((chat_id, language))
        return 500 + len(self.sent)


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 3, 10, hour, minute, tzinfo=UTC).timestamp()


async def run(db: Database, lists: FakeLists, now: float) -> int:
    return await send_due_digests(db, send_list=lists, now=now, default_tz="UTC", default_language="en")


async def test_digest_goes_out_at_the_chats_local_time_once(db: Database) -> None:
    await add_readers(db, 1, 1, timezone="Asia/Baku")  # 08:00 in Baku is 04:00 UTC
    await chats.set_digest(db, chat_id=1, at="08:00", now=at(0))
    first = await publish(db, 1, created_at=at(1))
    second = await publish(db, 1, created_at=at(2))
    assert (await states(db)) == {"digest": 2}

    lists = FakeLists()
    assert await run(db, lists, at(3, 59)) == 0
    assert await run(db, lists, at(4, 0)) == 1
    assert await run(db, lists, at(4, 1)) == 0  # the same slot: nothing twice

    assert len(lists.sent) == 1
    chat, thread, heading, items, tz = lists.sent[0]
    assert (chat, thread, items, tz) == (1, 0, [first, second], "Asia/Baku")
    assert "2" in heading
    assert (await states(db)) == {"digested": 2}
    chat_row = await chats.get_chat(db, chat_id=1)
    assert chat_row is not None and chat_row.last_digest_at == at(4, 0)


async def test_turning_the_digest_off_sends_waiting_items_normally(db: Database) -> None:
    await add_readers(db, 1, 1)
    await chats.set_digest(db, chat_id=1, at="08:00", now=at(0))
    await publish(db, 1, created_at=at(1))
    await chats.set_digest(db, chat_id=1, at=None, now=at(2))
    assert (await states(db)) == {"queued": 1}
    lists = FakeLists()
    assert await run(db, lists, at(9)) == 0 and lists.sent == []


async def test_digest_of_a_silent_chat_arrives_without_a_sound(db: Database) -> None:
    await add_readers(db, 1, 2)
    for chat_id in (1, 2):
        await chats.set_digest(db, chat_id=chat_id, at="08:00", now=at(0))
    assert await chats.set_option(db, chat_id=2, name="silent", on=True, now=at(0))
    await publish(db, 1, created_at=at(1))  # both chats follow the keyword "tag1"

    lists = FakeLists()
    assert await run(db, lists, at(8, 0)) == 2
    assert dict(zip([s[0] for s in lists.sent], lists.silent, strict=True)) == {1: False, 2: True}


async def test_each_chat_gets_its_digest_in_its_own_language_with_the_right_plural(db: Database) -> None:
    await add_readers(db, 1, 1, language="ru")
    await add_readers(db, 2, 1, language="tr")
    await add_readers(db, 3, 1, language="de")  # a language we lack: the bot's default
    for chat_id, count in ((1, 21), (2, 2), (3, 5)):
        await chats.set_digest(db, chat_id=chat_id, at="08:00", now=at(0))
        for n in range(count):
            await publish(db, chat_id, created_at=at(1, n))
    lists = FakeLists()
    assert await run(db, lists, at(8)) == 3
    headings = {chat: heading for chat, _thread, heading, _items, _tz in lists.sent}
    assert headings == {
        1: "Ваша сводка: 21 новый материал",
        2: "Bülteniniz: 2 yeni haber",
        3: "Your digest: 5 new items",
    }
    assert {chat: language for chat, language in lists.languages} == {1: "ru", 2: "tr", 3: "en"}
