"""Run the real bot from a TOML config until killed: ``python -m tests.crash_runner CONFIG``."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("PTB_TIMEDELTA", "1")

# PTB_TIMEDELTA is set above, before PTB is first imported.
from bot.app import run_bot
from bot.config import load_settings
from bot.logs import setup_logging


def main() -> None:
    settings = load_settings(sys.argv[1])
    setup_logging("INFO", secrets=(settings.bot.token.get(),))
    run_bot(settings)


if __name__ == "__main__":
    main()
