#!/usr/bin/env sh
# Run the whole test suite: ./test.sh  (builds .venv on first use; extra arguments go to pytest)
# Set TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres to run the storage and
# end-to-end tests against PostgreSQL as well (each run creates and drops its own database).
set -e
cd "$(dirname "$0")"
sh scripts/venv.sh test
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
