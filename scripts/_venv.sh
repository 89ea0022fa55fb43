# Sourced by scripts/run and scripts/test: make .venv and install newsbot into it when needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Reinstall only when pyproject.toml or the lock changed since the last install.
stamp=.venv/.newsbot-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # The lock pins every package (scripts/lock regenerates it), so each machine gets the same set.
  .venv/bin/python -m pip install --quiet -c requirements.lock -e ".[dev]"
  touch "$stamp"
fi
# Translations are compiled here, at install, never while the bot runs.
"$root/scripts/compile_catalogs"
export PTB_TIMEDELTA=1
