#!/usr/bin/env bash
# Set up on first run, then start Lead Engine on SQLite: API, UI, worker and IMAP poller (ports: see the banner).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
if ! sha256sum --check --status .venv/requirements.sha256 2>/dev/null; then
  echo "Installing dependencies into .venv ..."
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  sha256sum requirements.txt > .venv/requirements.sha256
fi

mkdir -p data
.venv/bin/python -m lead_engine init-env
.venv/bin/python -m lead_engine migrate
export PATH="$PWD/.venv/bin:$PATH"
printf '\n  Lead Engine is starting (Ctrl-C stops it).\n%s\n\n' "$(.venv/bin/python -m lead_engine info)"
exec supervisord -c supervisord.conf
