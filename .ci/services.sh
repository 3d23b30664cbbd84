#!/usr/bin/env bash
# Installs (from Debian) and starts the real services the test suite uses,
# idempotently: a second run on a machine that has them is a no-op but for
# the readiness checks. Source it: it exports the URLs the tests read.
set -euo pipefail

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
if ((${#need_apt[@]})); then
  echo "services: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# PostgreSQL: the cluster is created by the package; apt does not start it.
pg_version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^$pg_version main"; then
  pg_createcluster "$pg_version" main >/dev/null
fi
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  pg_ctlcluster "$pg_version" main start
fi
for _ in $(seq 1 50); do
  su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'nuvola'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE nuvola LOGIN PASSWORD 'nuvola'\""
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'nuvola_test'\"" | grep -q 1 ||
  su postgres -c "psql -qc 'CREATE DATABASE nuvola_test OWNER nuvola'"
pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $3}')
export NUVOLA_TEST_POSTGRES_URL="postgres://nuvola:nuvola@127.0.0.1:${pg_port}/nuvola_test"
echo "services: PostgreSQL $pg_version ready at 127.0.0.1:$pg_port"

# Prometheus (Debian's package) for the metrics test, which starts its own
# with a configuration scraping the nuvola it started.
if ! command -v prometheus >/dev/null 2>&1; then
  echo "services: installing prometheus"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
export NUVOLA_TEST_PROMETHEUS
NUVOLA_TEST_PROMETHEUS=$(command -v prometheus)
echo "services: $(prometheus --version 2>&1 | head -1)"

# The OIDC provider (npm `oidc-provider`) the identity tests log in against.
source "$(dirname "${BASH_SOURCE[0]}")/oidc/start.sh"

# An SMTP sink (PyPI `aiosmtpd`) for the notification tests.
source "$(dirname "${BASH_SOURCE[0]}")/smtp/start.sh"

# RabbitMQ with its STOMP plugin, for the STOMP client's tests (Nova uses
# the same broker; .ci/nova.sh sources this again, at no cost).
source "$(dirname "${BASH_SOURCE[0]}")/rabbitmq.sh"
