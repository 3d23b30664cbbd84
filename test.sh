#!/usr/bin/env bash
# The full test suite: starts the real services the tests use (PostgreSQL,
# installed from Debian when missing), checks formatting and lints, then
# runs every test of the workspace. `bash .ci/run` calls this same script.
set -euo pipefail
cd "$(dirname "$0")"
# A one-off build gains nothing from incremental artifacts, which would
# double the target directory; developers keep them.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi
source .ci/services.sh
source .ci/cloud.sh
source .ci/browser.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo test --workspace --doc --quiet
  cargo nextest run --workspace --no-fail-fast
else
  # Without nextest: cargo's own runner, and one closing count for all.
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  status=0
  cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?
  awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$log"
  exit "$status"
fi
