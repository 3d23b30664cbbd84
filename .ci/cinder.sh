#!/usr/bin/env bash
# Cinder (PyPI `cinder`, plus `fixtures`, which its fake volume driver
# imports): the API under uwsgi, cinder-scheduler and
# cinder-volume, on the MariaDB and RabbitMQ that .ci/neutron.sh and
# .ci/nova.sh started, registered in Keystone as `volumev3`. Sourced by
# .ci/nova.sh before Nova starts (Nova attaches its volumes).
#
# The one backend, `fake`, uses the fake volume driver that ships with
# Cinder (cinder.tests.fake_driver.FakeLoggingVolumeDriver): volumes,
# volume types, quotas, attachments and their states are Cinder's own;
# no block device is made. Volume type `standard` points at it; a type
# that does not exist is refused by the real API.
set -euo pipefail

cinder_cache=${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}
cinder_run="$cinder_cache/cinder-run"
CV="$cinder_cache/cinder"
mkdir -p "$cinder_run/state" "$cinder_run/locks"

if [[ ! -f "$CV/.installed" || "$(cat "$CV/.installed")" != "cinder pymysql uwsgi fixtures" ]]; then
  cinder_start=$SECONDS
  rm -rf "$CV"
  python3 -m venv "$CV"
  "$CV/bin/pip" install -q --disable-pip-version-check cinder pymysql uwsgi fixtures
  echo "cinder pymysql uwsgi fixtures" >"$CV/.installed"
  echo "cinder: installed in $((SECONDS - cinder_start)) s"
fi

ci_mariadb_db cinder

cp "$CV/etc/cinder/api-paste.ini" "$cinder_run/api-paste.ini"
cat >"$cinder_run/cinder.conf" <<EOF
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:5672/
auth_strategy = keystone
api_paste_config = $cinder_run/api-paste.ini
enabled_backends = fake
default_volume_type = standard
state_path = $cinder_run/state
glance_api_servers = http://127.0.0.1:9292
my_ip = 127.0.0.1
host = nuvola-ci
log_file = $cinder_run/cinder.log
[database]
connection = mysql+pymysql://cinder:cinder@127.0.0.1/cinder
[keystone_authtoken]
$authtoken
[nova]
$authtoken
[oslo_concurrency]
lock_path = $cinder_run/locks
[fake]
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
EOF
if [[ ! -f "$cinder_run/.synced" ]]; then
  "$CV/bin/cinder-manage" --config-file "$cinder_run/cinder.conf" db sync >"$cinder_run/db-sync.log" 2>&1
  touch "$cinder_run/.synced"
fi
ci_restart_on_change "$cinder_run/cinder.conf" "$cinder_run"/{api,scheduler,volume}.pid
if ! curl -s -o /dev/null -m 2 http://127.0.0.1:8776; then
  # Cinder's WSGI entry reads its options from sys.argv: --pyargv.
  (cd "$cinder_run" && exec nohup "$CV/bin/uwsgi" --http 127.0.0.1:8776 --http-keepalive \
    --module cinder.wsgi.api:application --pyargv "--config-file $cinder_run/cinder.conf" \
    --master --die-on-term --processes 1 --threads 4 --pidfile "$cinder_run/api.pid") \
    </dev/null >"$cinder_run/api.out" 2>&1 &
  for _ in $(seq 1 120); do curl -s -o /dev/null -m 2 http://127.0.0.1:8776 && break; sleep 0.5; done
  curl -s -o /dev/null -m 2 http://127.0.0.1:8776 || { tail -30 "$cinder_run/api.out" >&2; false; }
fi
for svc in scheduler volume; do
  if [[ ! -f "$cinder_run/$svc.pid" ]] || ! kill -0 "$(cat "$cinder_run/$svc.pid")" 2>/dev/null; then
    (cd "$cinder_run" && exec nohup "$CV/bin/cinder-$svc" --config-file "$cinder_run/cinder.conf") \
      </dev/null >"$cinder_run/$svc.out" 2>&1 &
    echo $! >"$cinder_run/$svc.pid"
  fi
done
echo "cinder: API up (volumev3 8776, backend fake)"
