"""The README's demo command: readers really receive the sample site's new items."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_pushes_new_stories_and_not_the_backlog() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--seconds", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PTB_TIMEDELTA": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    received = [line for line in result.stdout.splitlines() if " receives: " in line]
    water = [line for line in received if "Caspian water level" in line and " the " not in line]
    # Everyone subscribed to everything, plus the group that follows the keyword "Baku".
    assert {line.split("→ ")[1].split(" receives")[0] for line in water} == {
        "Aysel",
        "Nigar",
        "Baku Commuters (group)",
    }
    football = [line for line in received if "Qarabağ" in line]
    assert not any("Nigar" in line for line in football), "Nigar excluded sport"
    assert any("Murad" in line for line in football), "Murad follows the Sport category"
    assert not any("third container terminal" in line for line in received), "backlog was pushed"
    assert ", 0 answered 429" in result.stdout
    # The blocklist holds the water story for review; the simulated moderator approves it, and
    # only then does it reach the readers above and the channel.
    lines = result.stdout.splitlines()
    held = next(
        i for i, line in enumerate(lines) if "the news desk (review chat) receives: 🛡 Review #1" in line
    )
    approved = next(i for i, line in enumerate(lines) if "Elvin (moderator) presses Approve" in line)
    first_water = next(i for i, line in enumerate(lines) if " receives: Caspian water level" in line)
    assert held < approved < first_water
    # The channel gets its stories too (which ones by 20 s depends on the machine's load: the held
    # story waits for its own card on the desk, paced at Telegram's group limit).
    assert any("the @caspianledger channel receives: " in line for line in lines)
    assert "[]" not in result.stdout, "a message's second line is shown, never empty brackets"
    # A fresh story says how old it is; an older one the time in the reader's zone (+04).
    dated = re.compile(
        r"\[Caspian Ledger · .* · (just now|\d+ min ago|\d\d [A-Z][a-z]{2} \d{4}, \d\d:\d\d \+04)\]"
    )
    assert all(dated.search(line) for line in water), water
