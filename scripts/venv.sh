#!/usr/bin/env sh
# Builds .venv with the dependencies listed in pyproject.toml (plus the extras named in $1),
# again only when pyproject.toml changes. Used by run.sh and test.sh; the project itself is
# not installed: it runs from this folder.
set -e
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
want="$(.venv/bin/python scripts/requirements.py $extras | sha256sum | cut -c1-64)"
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "Installing dependencies into .venv ..." >&2
    .venv/bin/python scripts/requirements.py $extras > .venv/requirements.txt
    .venv/bin/python -m pip install -q --disable-pip-version-check -r .venv/requirements.txt
    echo "$want" > "$stamp"
fi
