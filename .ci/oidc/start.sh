#!/usr/bin/env bash
# Installs (npm, into .ci/oidc/node_modules) and starts the real OIDC
# provider the identity tests use, idempotently: when the same server.mjs
# already answers on the port, nothing happens. Source it: it exports
# NUVOLA_TEST_OIDC_ISSUER.
set -euo pipefail
oidc_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
oidc_port="${NUVOLA_TEST_OIDC_PORT:-9123}"
oidc_url="http://127.0.0.1:${oidc_port}"
oidc_version=$(sha256sum "$oidc_dir/server.mjs" | cut -d' ' -f1)

if [ ! -f "$oidc_dir/node_modules/oidc-provider/package.json" ] ||
   [ "$oidc_dir/package.json" -nt "$oidc_dir/node_modules/.package-lock.json" ]; then
  echo "services: installing oidc-provider with npm"
  (cd "$oidc_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

running=$(curl -sf "$oidc_url/test/version" 2>/dev/null || true)
if [[ "$running" != *"$oidc_version"* ]]; then
  # An older server.mjs (of this checkout or another) may still hold the
  # port: stop the node process listening there, and only that.
  if [ -f "$oidc_dir/server.pid" ]; then
    kill "$(cat "$oidc_dir/server.pid")" 2>/dev/null || true
  fi
  for pid in $(ss -Hltnp "sport = :$oidc_port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'node server.mjs'; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  for _ in $(seq 1 30); do
    curl -s -o /dev/null -m 1 "$oidc_url/test/version" || break
    sleep 0.1
  done
  (cd "$oidc_dir" && PORT="$oidc_port" exec nohup node server.mjs </dev/null >"$oidc_dir/server.log" 2>&1 & echo $! >"$oidc_dir/server.pid")
  for _ in $(seq 1 100); do
    curl -sf "$oidc_url/test/version" 2>/dev/null | grep -q "$oidc_version" && break
    sleep 0.1
  done
  curl -sf "$oidc_url/test/version" | grep -q "$oidc_version" || {
    echo "services: oidc-provider did not start; log:" >&2
    cat "$oidc_dir/server.log" >&2
    exit 1
  }
fi
export NUVOLA_TEST_OIDC_ISSUER="$oidc_url"
echo "services: oidc-provider ready at $oidc_url"
