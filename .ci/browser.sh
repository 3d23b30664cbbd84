#!/usr/bin/env bash
# Installs what the dashboard's browser tests need, idempotently and
# quickly when already there:
#
#   - Debian's `chromium` and fonts (apt-get, as root);
#   - Node.js (Debian's `nodejs`/`npm`) when missing;
#   - npm's `playwright-core` and `axe-core`, at the versions locked in
#     e2e/package-lock.json, into a cache folder (not the work tree):
#     ${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}/browser, or
#     ~/.cache/nuvola-ci/browser when that is not writable.
#
# Source it: it exports NUVOLA_E2E_CHROMIUM (the browser) and
# NUVOLA_E2E_NODE_MODULES (where the e2e tests find their packages), which
# crates/nuvola/tests/browser.rs reads. Set NUVOLA_CI_SKIP_BROWSER=1 to skip
# it all (the browser test then skips, or fails under CI=true).
set -euo pipefail

if [[ "${NUVOLA_CI_SKIP_BROWSER:-}" == 1 ]]; then
  echo "browser: skipped (NUVOLA_CI_SKIP_BROWSER=1)"
  return 0 2>/dev/null || exit 0
fi

browser_e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e" && pwd)"
browser_cache=${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}/browser
if ! mkdir -p "$browser_cache" 2>/dev/null || [[ ! -w "$browser_cache" ]]; then
  browser_cache="$HOME/.cache/nuvola-ci/browser"
  mkdir -p "$browser_cache"
fi

browser_apt=()
command -v chromium >/dev/null 2>&1 || browser_apt+=(chromium)
# Fonts for readable pages and screenshots (chromium only recommends them).
for font in fonts-liberation fonts-dejavu-core; do
  dpkg -s "$font" >/dev/null 2>&1 || browser_apt+=("$font")
done
command -v node >/dev/null 2>&1 || browser_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || browser_apt+=(npm)
if ((${#browser_apt[@]})); then
  echo "browser: installing ${browser_apt[*]} from Debian"
  browser_start=$SECONDS
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${browser_apt[@]}" >/dev/null
  echo "browser: installed in $((SECONDS - browser_start)) s"
fi

# The npm packages: reinstalled only when the lock file changed.
browser_lock=$(sha256sum "$browser_e2e/package-lock.json" | cut -d' ' -f1)
if [[ ! -f "$browser_cache/.installed" || "$(cat "$browser_cache/.installed")" != "$browser_lock" ]]; then
  echo "browser: installing playwright-core and axe-core into $browser_cache"
  cp "$browser_e2e/package.json" "$browser_e2e/package-lock.json" "$browser_cache/"
  # playwright-core downloads no browser; Debian's chromium is used.
  (cd "$browser_cache" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$browser_lock" >"$browser_cache/.installed"
fi

NUVOLA_E2E_CHROMIUM=$(command -v chromium)
export NUVOLA_E2E_CHROMIUM
export NUVOLA_E2E_NODE_MODULES="$browser_cache/node_modules"
echo "browser: $("$NUVOLA_E2E_CHROMIUM" --version 2>/dev/null | head -1), node $(node --version), packages in $NUVOLA_E2E_NODE_MODULES"
