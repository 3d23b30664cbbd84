#!/usr/bin/env bash
# RabbitMQ (Debian's rabbitmq-server) on loopback, with its STOMP plugin
# on 127.0.0.1:61613: Nova's message bus (AMQP, 127.0.0.1:5672, user
# guest) and the broker the STOMP client's tests and the accounting
# ingest tests deliver through, the way APEL's SSM sends.
#
# Sourced by .ci/services.sh (the STOMP tests need the broker even when
# the cloud scripts are skipped) and by .ci/nova.sh; idempotent, and
# quick (two port checks) when the broker already runs with STOMP on.
# Exports NUVOLA_TEST_STOMP_URL.
set -euo pipefail

# True when something listens on 127.0.0.1:$1.
rabbit_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! rabbit_port_open 5672 || ! rabbit_port_open 61613; then
  rabbit_start=$SECONDS
  rabbit_run=${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}/rabbitmq-run
  mkdir -p "$rabbit_run"
  command -v rabbitmq-server >/dev/null || {
    echo "rabbitmq: installing rabbitmq-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  }
  # The STOMP listener on loopback only, for a broker started from now on
  # (advanced.config sets the plugin's environment whether or not the
  # plugin was enabled when the node booted).
  rabbit_advanced=/etc/rabbitmq/advanced.config
  rabbit_stomp_env='[{rabbitmq_stomp, [{tcp_listeners, [{"127.0.0.1", 61613}]}]}].'
  if [[ ! -f "$rabbit_advanced" ]]; then
    echo "$rabbit_stomp_env" >"$rabbit_advanced"
  elif ! grep -qF '{"127.0.0.1", 61613}' "$rabbit_advanced"; then
    echo "rabbitmq: $rabbit_advanced is not ours; the STOMP listener keeps its default address" >&2
  fi
  if ! rabbitmqctl -q status >/dev/null 2>&1; then
    rabbitmq-plugins -q enable --offline rabbitmq_stomp >/dev/null
    (su rabbitmq -s /bin/sh -c 'HOME=/var/lib/rabbitmq RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 exec rabbitmq-server' </dev/null >"$rabbit_run/rabbit.out" 2>&1 &)
    for _ in $(seq 1 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 0.5; done
  else
    # A running broker: enabling the plugin starts its listener on every
    # interface (the node read no advanced.config at boot); restart it on
    # loopback.
    rabbitmq-plugins -q enable rabbitmq_stomp >/dev/null
    rabbitmqctl -q eval 'application:stop(rabbitmq_stomp),
      application:set_env(rabbitmq_stomp, tcp_listeners, [{"127.0.0.1", 61613}]),
      application:start(rabbitmq_stomp).' >/dev/null
  fi
  for _ in $(seq 1 60); do rabbit_port_open 61613 && rabbit_port_open 5672 && break; sleep 0.5; done
  if ! rabbit_port_open 61613; then
    echo "rabbitmq: STOMP not listening on 127.0.0.1:61613" >&2
    tail -20 "$rabbit_run/rabbit.out" >&2 2>/dev/null || true
    false
  fi
  echo "rabbitmq: started with STOMP in $((SECONDS - rabbit_start)) s"
fi
export NUVOLA_TEST_STOMP_URL="stomp://guest:guest@127.0.0.1:61613/"
echo "rabbitmq: AMQP on 127.0.0.1:5672, STOMP at $NUVOLA_TEST_STOMP_URL"
