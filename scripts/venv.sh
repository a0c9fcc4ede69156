#!/usr/bin/env sh
# Builds .venv in this folder from the lock file, with the project installed in it (editable,
# so the `linli` command runs this folder's code), again only when uv.lock, requirements.lock
# or pyproject.toml change. $1 names an extra to add (test). Used by run.sh and test.sh.
#
# With uv on PATH: `uv sync --frozen` from uv.lock. Without it: pip, from requirements.lock
# (uv.lock exported with every extra and the hashes; refresh both with scripts/lock.sh).
set -e
cd "$(dirname "$0")/.."
extras="${1:-}"
if command -v uv >/dev/null 2>&1 && [ "${LINLI_NO_UV:-}" != 1 ]; then
    tool=uv
else
    tool=pip
fi
want="$tool $extras $(cat uv.lock requirements.lock pyproject.toml | sha256sum | cut -c1-64)"
stamp=".venv/.installed-${extras:-base}"
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "Installing dependencies into .venv ($tool, from the lock file) ..." >&2
if [ "$tool" = uv ]; then
    # --inexact: what the other extra installed stays (run.sh and test.sh share .venv)
    UV_PYTHON_DOWNLOADS=never uv sync --quiet --frozen --inexact ${extras:+--extra "$extras"}
else
    [ -x .venv/bin/python ] || python3 -m venv .venv
    pip=".venv/bin/python -m pip --disable-pip-version-check"
    $pip install -q --require-hashes -r requirements.lock
    $pip install -q --no-deps -e .
fi
echo "$want" > "$stamp"
