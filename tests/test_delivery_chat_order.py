"""The update processor: one chat's updates in the order they came, other chats never held up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update, User

from bot.delivery.chat_order import PerChatUpdateProcessor


def message_update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    user = User(chat_id, "Reader", is_bot=False)
    sent = datetime.now(UTC)
    return Update(update_id, message=Message(update_id, sent, chat, from_user=user, text="/help"))


async def test_one_chats_updates_finish_in_order_while_another_chat_goes_ahead() -> None:
    processor = PerChatUpdateProcessor()
    finished: list[str] = []

    async def handle(name: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        finished.append(name)

    # As PTB does with concurrent updates: one task per update, started in arrival order.
    tasks = [
        asyncio.create_task(processor.process_update(message_update(1, 10), handle("A1 slow", 0.2))),
        asyncio.create_task(processor.process_update(message_update(2, 10), handle("A2 fast", 0.0))),
        asyncio.create_task(processor.process_update(message_update(3, 20), handle("B1", 0.05))),
        asyncio.create_task(processor.process_update(message_update(4, 10), handle("A3 fast", 0.0))),
    ]
    await asyncio.gather(*tasks)

    assert [n for n in finished if n.startswith("A")] == ["A1 slow", "A2 fast", "A3 fast"]
    assert finished.index("B1") < finished.index("A1 slow"), "another chat waited"
    assert processor._turns == {}  # a chat's turn is forgotten once its updates are done
