"""The emulator as a process, knowing the chaos test's readers from the start.

``python -m tests.chaos_emulator PORT GLOBAL_PER_SECOND FIRST_READER READERS``: 10,000 readers added
through the control API took over a minute of a loaded machine; here they cost a few milliseconds.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from bot.emulator import Emulator, RunningEmulator


async def serve(port: int, global_per_second: float, first: int, readers: int) -> None:
    emulator = Emulator(global_per_second=global_per_second)
    for chat_id in range(first, first + readers):
        emulator.add_chat(chat_id, "private")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with RunningEmulator(emulator, port=port):
        await stop.wait()


def main() -> None:
    port, rate, first, readers = sys.argv[1:5]
    asyncio.run(serve(int(port), float(rate), int(first), int(readers)))


if __name__ == "__main__":
    main()
