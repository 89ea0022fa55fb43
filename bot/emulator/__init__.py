"""A local Telegram Bot API emulator for tests, the demo and benchmarks."""

from bot.emulator.client import EmulatorClient
from bot.emulator.server import RunningEmulator, create_app, serve
from bot.emulator.state import Emulator

__all__ = ["Emulator", "EmulatorClient", "RunningEmulator", "create_app", "serve"]
