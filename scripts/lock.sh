#!/usr/bin/env sh
# After a change to the dependencies in pyproject.toml: resolve them again into uv.lock, and
# export that (every extra, with hashes) as requirements.lock for machines without uv.
set -e
cd "$(dirname "$0")/.."
uv lock
uv export --frozen --all-extras --no-emit-project --format requirements-txt -o requirements.lock
