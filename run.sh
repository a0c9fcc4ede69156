#!/usr/bin/env sh
# Run the bot: ./run.sh  (builds .venv on first use; extra arguments go to the linli command,
# e.g. ./run.sh migrate). Without a BOT_TOKEN (in .env or the environment) it serves the sandbox:
# the bot in a browser at http://127.0.0.1:8080, no Telegram needed.
set -e
cd "$(dirname "$0")"
sh scripts/venv.sh
exec .venv/bin/linli "$@"
