#!/usr/bin/env bash
# Install what the tests need (Debian packages, Python packages) and run lint and the whole test suite.
# PostgreSQL tests run against LEAD_ENGINE_TEST_POSTGRES_URL, or a local server on 127.0.0.1:5432 when one answers
# (user postgres, database postgres); without either they are skipped, and this says so. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"

debian_packages=(dovecot-imapd dovecot-lmtpd chromium chromium-driver)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11 or newer is needed" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
if ! sha256sum --check --status .venv/requirements-dev.sha256 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  sha256sum requirements.txt requirements-dev.txt > .venv/requirements-dev.sha256
fi

if [ -z "${LEAD_ENGINE_TEST_POSTGRES_URL:-}" ]; then
  local_postgres="postgresql://postgres@127.0.0.1:5432/postgres"
  if .venv/bin/python -c "import psycopg; psycopg.connect('$local_postgres', connect_timeout=2).close()" 2>/dev/null; then
    export LEAD_ENGINE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    echo "PostgreSQL tests: the local server at 127.0.0.1:5432"
  else
    echo "PostgreSQL tests: skipped (no server on 127.0.0.1:5432; set LEAD_ENGINE_TEST_POSTGRES_URL to use one)"
  fi
fi

.venv/bin/ruff check lead_engine tests bench
.venv/bin/ruff format --check lead_engine tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
