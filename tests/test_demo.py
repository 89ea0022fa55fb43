"""The README's demo command: readers really receive the sample site's new items."""

from __future__ import annotations

import subprocess
import sys


def test_demo_pushes_new_stories_and_not_the_backlog() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--seconds", "17"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PTB_TIMEDELTA": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    received = [line for line in result.stdout.splitlines() if " receives: " in line]
    water = [line for line in received if "Caspian water level" in line]
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
    assert "[]" not in result.stdout, "a message's second line is shown, never empty brackets"
    assert all("[Caspian Ledger · " in line and " +04]" in line for line in water), water
