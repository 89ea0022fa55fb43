#!/bin/sh
# The image's entrypoint: check the setup, then become newsbot (exec, so SIGTERM reaches the bot).
# `newsbot run` when a token is configured, otherwise the self-contained demo (as scripts/run does).
# Arguments are passed on to that command. NEWSBOT_BIN names the program (tests point it elsewhere).
set -eu

bin="${NEWSBOT_BIN:-newsbot}"
config="${NEWSBOT_CONFIG:-}"

fail() {
  echo "newsbot-entrypoint: $*" >&2
  exit 2
}

if [ -n "$config" ] && [ ! -r "$config" ]; then
  fail "NEWSBOT_CONFIG=$config is not a readable file (mount it into the container)"
fi

# The database folder must exist and be ours: a fresh one inside the container would lose the readers.
db="${NEWSBOT_BOT__DB:-${NEWSBOT_DB:-}}"
case "$db" in
  postgresql://* | postgres://*) db="" ;;  # a server, not a file: nothing to check here
esac
if [ -n "$db" ]; then
  folder="$(dirname -- "$db")"
  if [ ! -d "$folder" ]; then
    fail "the database folder $folder does not exist (mount a volume there)"
  fi
  if [ ! -w "$folder" ]; then
    fail "the database folder $folder is not writable by user $(id -u) (chown the volume)"
  fi
fi

if [ -n "${NEWSBOT_TOKEN:-}" ] || [ -n "${NEWSBOT_BOT__TOKEN:-}" ] \
  || { [ -n "$config" ] && grep -qE "^[[:space:]]*token[[:space:]]*=[[:space:]]*[\"'][^\"']+[\"']" "$config"; }; then
  exec "$bin" run "$@"
fi
echo "newsbot-entrypoint: no NEWSBOT_TOKEN (nor token in NEWSBOT_CONFIG): running the demo." >&2
exec "$bin" demo "$@"
