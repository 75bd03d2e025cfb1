#!/usr/bin/env bash
# Install what the tests need (Debian packages, Python packages) and run lint and the whole test suite.
# PostgreSQL tests run when LEAD_ENGINE_TEST_POSTGRES_URL is set (.ci/run sets it). Extra args go to pytest.
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

.venv/bin/ruff check lead_engine tests bench
.venv/bin/ruff format --check lead_engine tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
