#!/usr/bin/env bash
# Set up on first run, then start Lead Engine on SQLite: API :8000, UI :8501, worker and IMAP poller.
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
cat <<'INFO'

  Lead Engine is starting (Ctrl-C stops it).
  API:  http://127.0.0.1:8000/docs   bearer token: LEAD_ENGINE_API_TOKEN in .env
  UI:   http://127.0.0.1:8501        password:     LEAD_ENGINE_UI_PASSWORD in .env

INFO
exec supervisord -c supervisord.conf
