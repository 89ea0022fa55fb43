"""The floor under the dispatcher's CPU per message: a plain loop sending one message at a time.

    python bench/bench_plain_send.py [--rate 29] [--messages 300] [--runs 3]

Sends two ways, alternated run by run: PTB's generic call through the same aiohttp request and
shared limiter (slots reserved), and the way the dispatcher's sender does now (one JSON body
posted with ``BaseRequest.post``), but with no database, no outbox and no pacing logic: one
``sendMessage``, then a sleep of one interval. Whatever CPU per message this costs at a rate,
the dispatcher cannot go below it. The emulator runs in its own process with Telegram's limits
on, so the figures are this process's alone. Prints figures; never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from typing import Any

# common.py puts the project root on sys.path, so it comes before the bot imports.
from common import emulator_process, make_bot, wait_until_up
from telegram.ext import ExtBot

from bot.config import DeliverySettings
from bot.delivery.ratelimit import Limiter, Rates
from bot.delivery.sender import make_api_call
from bot.delivery.shared_limiter import RESERVED
from bot.emulator import EmulatorClient

FIRST = 10_000_000
LIMITS = DeliverySettings()


async def main(rate: float, messages: int, runs: int) -> None:
    with emulator_process(limits=True) as port:
        async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
            await wait_until_up(control)
            ids = range(FIRST, FIRST + messages * runs)
            for start in range(0, len(ids), 200):
                await asyncio.gather(*(control.add_chat(i, "private") for i in ids[start : start + 200]))
            for run in range(runs * 2):
                direct = run % 2 == 1
                await control.reset()
                rates = Rates(rate, LIMITS.chat_per_second, LIMITS.group_per_minute, LIMITS.headroom)
                bot: ExtBot[Any] = make_bot(port, Limiter(rates))  # its limiter takes RESERVED
                await bot.initialize()
                call = make_api_call(bot)
                before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
                for n in range(messages):
                    chat_id = FIRST + run // 2 * messages + n
                    params = {"chat_id": chat_id, "text": f"<b>Story {n}</b>\nA lead."}
                    if direct:
                        await call("sendmessage", params)
                    else:
                        await bot.do_api_request("sendmessage", api_kwargs=params, rate_limit_args=RESERVED)
                    await asyncio.sleep(1 / rate)
                after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
                await bot.shutdown()
                user = (after.ru_utime - before.ru_utime) * 1000 / messages
                system = (after.ru_stime - before.ru_stime) * 1000 / messages
                print(
                    f"  plain send loop ({'one JSON body' if direct else 'PTB generic call'}) at {rate:g}/s "
                    f"({messages / wall:.1f}/s achieved): "
                    f"{user + system:.3f} ms CPU per message ({user:.3f} user, {system:.3f} system), "
                    f"{int((await control.stats())['429'])} answers 429",
                    flush=True,
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=29.0)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.messages, args.runs))
