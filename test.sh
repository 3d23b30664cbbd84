#!/usr/bin/env bash
# The full test suite: starts the real services the tests use (PostgreSQL,
# installed from Debian when missing), then runs every test of the
# workspace. `bash .ci/run` calls this same script.
set -euo pipefail
cd "$(dirname "$0")"
source .ci/services.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
