#!/usr/bin/env sh
# Run the bot: ./run.sh  (builds .venv on first use; extra arguments go to bot.py, e.g. ./run.sh migrate)
set -e
cd "$(dirname "$0")"
sh scripts/venv.sh
[ $# -gt 0 ] || set -- run
exec .venv/bin/python bot.py "$@"
