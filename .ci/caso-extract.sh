#!/usr/bin/env bash
# Runs the real cASO that .ci/caso.sh installed and configured, once:
# its records of the CI cloud's tagged projects between FROM and TO (ISO
# dates or times, UTC; cASO's defaults when left out: since its last run,
# until now) land in folder DIR as SSM's outgoing queue holds them (a
# dirq: one file per message, in subfolders).
#
# Usage: .ci/caso-extract.sh DIR [FROM] [TO]
# Reads the configuration NUVOLA_TEST_CASO names
# (default /var/cache/nuvola-ci/caso-run/caso.conf).
set -euo pipefail
if (($# < 1 || $# > 3)); then
  echo "usage: $0 DIR [FROM] [TO]" >&2
  exit 2
fi
conf=${NUVOLA_TEST_CASO:-/var/cache/nuvola-ci/caso-run/caso.conf}
extract="$(dirname "$conf")/../caso/bin/caso-extract"
[[ -f "$conf" && -x "$extract" ]] || {
  echo "caso-extract: no cASO at $extract configured by $conf (source .ci/cloud.sh)" >&2
  exit 1
}
mkdir -p "$1"
dir=$(cd "$1" && pwd)
# A spool folder of this run's own: its last-run dates and lock stay apart
# from any other run's.
spool=$(mktemp -d)
trap 'rm -rf "$spool"' EXIT
cat >"$spool/run.conf" <<CONF
[DEFAULT]
spooldir = $spool
lock_path = $spool
[ssm]
output_path = $dir
CONF
args=(--config-file "$conf" --config-file "$spool/run.conf")
if (($# >= 2)) && [[ -n "$2" ]]; then args+=(--extract-from "$2"); fi
if (($# >= 3)) && [[ -n "$3" ]]; then args+=(--extract-to "$3"); fi
exec "$extract" "${args[@]}"
