#!/usr/bin/env bash
# Sourced by .ci/cloud.sh after Keystone is up: Nova with its fake virt
# driver, Placement and Glance from PyPI, on the CI PostgreSQL and a Debian
# RabbitMQ (.ci/rabbitmq.sh), plus Neutron (.ci/neutron.sh: ML2/OVN, on MariaDB) and Cinder
# (.ci/cinder.sh: fake volume driver, on MariaDB), all registered in the
# Keystone that cloud.sh started. .ci/openstack-seed.py then makes, once,
# what the driver tests use: flavors `m1.tiny` (1 vCPU, 512 MiB) and
# `m1.small` (1 vCPU, 2 GiB), image `cirros` (a few bytes in Glance's file
# store), volume type `standard`, the external network `public` (floating
# IPs) and a shared tenant network `private` routed to it, and lifts the
# quotas of project `admin`. Exports NUVOLA_TEST_NOVA=1.
#
# The fake drivers boot no guest and make no block device; everything
# else is the real services: Nova's API, scheduler, conductor and compute
# manager, Placement claims, Neutron port binding, routers and floating
# IPs, Cinder volumes, types, quotas and attachments.
# Set NUVOLA_CI_SKIP_NOVA=1 (for cloud.sh) to skip it.
set -euo pipefail

# A MariaDB database with a user of the same name (and password).
ci_mariadb_db() {
  mariadb --socket=/run/mysqld/mysqld.sock -e "CREATE DATABASE IF NOT EXISTS $1;
    CREATE USER IF NOT EXISTS '$1'@'127.0.0.1' IDENTIFIED BY '$1';
    GRANT ALL ON $1.* TO '$1'@'127.0.0.1';"
}
# Stops the services of the pid files given when configuration $1 changed
# since they started (a new version of these scripts); the caller then
# starts what is not running. uwsgi waits a minute for workers with live
# threads, so this does not ask twice.
ci_restart_on_change() { # conf pidfile...
  local conf=$1
  shift
  if [[ -f "$conf.running" ]] && ! cmp -s "$conf" "$conf.running"; then
    echo "ci: $(basename "$conf") changed, restarting its services"
    local pidfile
    for pidfile in "$@"; do
      [[ -f "$pidfile" ]] || continue
      pkill -9 -P "$(cat "$pidfile")" 2>/dev/null || true
      kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 1
  fi
  cp "$conf" "$conf.running"
}

nova_cache=${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}
nova_run="$nova_cache/nova-run"
ks="$NUVOLA_TEST_KEYSTONE_URL"
mkdir -p "$nova_run"

source "$(dirname "${BASH_SOURCE[0]}")/rabbitmq.sh"

su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'nova'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE nova LOGIN PASSWORD 'nova'\""
for db in nova_api nova nova_cell0 placement glance; do
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = '$db'\"" | grep -q 1 ||
    su postgres -c "psql -qc 'CREATE DATABASE $db OWNER nova'"
done

# Neutron's and Cinder's venvs install in the background meanwhile (the
# downloads overlap); neutron.sh and cinder.sh find them installed.
nova_side_venv() { # dir packages...
  local dir=$1
  shift
  [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$*" ]] && return 0
  local start=$SECONDS
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check "$@"
  echo "$*" >"$dir/.installed"
  echo "nova: installed $* in $((SECONDS - start)) s"
}
nova_side_venv "$nova_cache/neutron" neutron pymysql uwsgi &
nova_installs=("$!")
nova_side_venv "$nova_cache/cinder" cinder pymysql uwsgi fixtures &
nova_installs+=("$!")
if [[ ! -f "$nova_cache/nova/.installed" ]]; then
  python3 -m venv "$nova_cache/nova"
  "$nova_cache/nova/bin/pip" install -q nova openstack-placement glance psycopg2-binary uwsgi
  touch "$nova_cache/nova/.installed"
fi
V="$nova_cache/nova"
for pid in "${nova_installs[@]}"; do wait "$pid"; done

# Keystone: services and endpoints (public + internal), idempotently.
token=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' "$ks/auth/tokens" -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"nuvola-admin"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}' | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' | tr -d '\r')
ks_service() { # type name url
  local id
  id=$(curl -s -H "X-Auth-Token: $token" "$ks/services?type=$1" | python3 -c 'import sys,json; s=json.load(sys.stdin)["services"]; print(s[0]["id"] if s else "")')
  if [[ -z "$id" ]]; then
    id=$(curl -s -H "X-Auth-Token: $token" -H 'Content-Type: application/json' "$ks/services" -d "{\"service\":{\"type\":\"$1\",\"name\":\"$2\"}}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["service"]["id"])')
    for iface in public internal; do
      curl -s -o /dev/null -H "X-Auth-Token: $token" -H 'Content-Type: application/json' "$ks/endpoints" \
        -d "{\"endpoint\":{\"service_id\":\"$id\",\"interface\":\"$iface\",\"url\":\"$3\",\"region_id\":\"RegionOne\"}}"
    done
  fi
}
ks_service compute nova http://127.0.0.1:8774/v2.1
ks_service network neutron http://127.0.0.1:9696
ks_service volumev3 cinderv3 'http://127.0.0.1:8776/v3/%(project_id)s'
ks_service placement placement http://127.0.0.1:8778
ks_service image glance http://127.0.0.1:9292

authtoken="www_authenticate_uri = $ks
auth_url = $ks
auth_type = password
username = admin
password = nuvola-admin
project_name = admin
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne"

mkdir -p "$nova_run/placement" "$nova_run/glance/images" "$nova_run/state" "$nova_run/locks"
cat >"$nova_run/placement/placement.conf" <<EOF
[placement_database]
connection = postgresql+psycopg2://nova:nova@127.0.0.1/placement
[api]
auth_strategy = keystone
[keystone_authtoken]
$authtoken
EOF
mkdir -p "$nova_run/glance-etc"
cp "$V/etc/glance/glance-api-paste.ini" "$nova_run/glance-etc/"
cp "$V/etc/nova/api-paste.ini" "$nova_run/api-paste.ini"
cat >"$nova_run/glance-etc/glance-api.conf" <<EOF
[DEFAULT]
enabled_backends = file:file
[database]
connection = postgresql+psycopg2://nova:nova@127.0.0.1/glance
[keystone_authtoken]
$authtoken
[paste_deploy]
flavor = keystone
[glance_store]
default_backend = file
[file]
filesystem_store_datadir = $nova_run/glance/images
[oslo_concurrency]
lock_path = $nova_run/locks
EOF
cat >"$nova_run/nova.conf" <<EOF
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:5672/
compute_driver = fake.FakeDriverWithoutFakeNodes
# One compute host: a resize (a deployment's update) stays on it.
allow_resize_to_same_host = true
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
state_path = $nova_run/state
my_ip = 127.0.0.1
host = nuvola-ci
[api]
auth_strategy = keystone
[api_database]
connection = postgresql+psycopg2://nova:nova@127.0.0.1/nova_api
[database]
connection = postgresql+psycopg2://nova:nova@127.0.0.1/nova
[keystone_authtoken]
$authtoken
[placement]
$authtoken
valid_interfaces = public
[neutron]
$authtoken
valid_interfaces = public
[cinder]
os_region_name = RegionOne
[service_user]
# Cinder lets only Nova (a service token) detach a server's volume.
send_service_user_token = true
$authtoken
[glance]
valid_interfaces = public
region_name = RegionOne
[scheduler]
discover_hosts_in_cells_interval = 2
[wsgi]
api_paste_config = $nova_run/api-paste.ini
[oslo_concurrency]
lock_path = $nova_run/locks
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
EOF

# Databases, then the three APIs under uwsgi and the Nova services.
if [[ ! -f "$nova_run/.synced" ]]; then
  "$V/bin/placement-manage" --config-file "$nova_run/placement/placement.conf" db sync
  "$V/bin/glance-manage" --config-file "$nova_run/glance-etc/glance-api.conf" db_sync >"$nova_run/glance-manage.log" 2>&1
  nm() { "$V/bin/nova-manage" --config-file "$nova_run/nova.conf" "$@"; }
  nm api_db sync
  nm cell_v2 map_cell0 --database_connection postgresql+psycopg2://nova:nova@127.0.0.1/nova_cell0
  nm cell_v2 create_cell --name cell1 || true
  nm db sync
  touch "$nova_run/.synced"
fi
nova_up() { curl -s -o /dev/null -m 2 "$1"; }
nova_wait() { for _ in $(seq 1 120); do nova_up "$1" && return 0; sleep 0.5; done; echo "nova: $1 not ready" >&2; return 1; }
start_api() { # name port module env...
  local name=$1 port=$2 module=$3
  shift 3
  nova_up "http://127.0.0.1:$port" && return 0
  (cd "$nova_run" && exec env "$@" nohup "$V/bin/uwsgi" --http "127.0.0.1:$port" --http-keepalive --module "$module" \
    --master --die-on-term --processes 1 --threads 4 --pidfile "$nova_run/$name.pid") </dev/null >"$nova_run/$name.out" 2>&1 &
  nova_wait "http://127.0.0.1:$port"
}
ci_restart_on_change "$nova_run/nova.conf" "$nova_run"/{nova-api,conductor,scheduler,compute}.pid
source "$(dirname "${BASH_SOURCE[0]}")/neutron.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cinder.sh"
start_api placement 8778 placement.wsgi.api:application OS_PLACEMENT_CONFIG_DIR="$nova_run/placement"
start_api glance 9292 glance.wsgi.api:application OS_GLANCE_CONFIG_DIR="$nova_run/glance-etc"
start_api nova-api 8774 nova.wsgi.osapi_compute:application OS_NOVA_CONFIG_DIR="$nova_run" "OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf"
# nova-compute refuses to start on a host it knew without the node
# identity file of its first start (lost with a cleaned state folder).
if [[ ! -f "$nova_run/state/compute_id" ]]; then
  node_uuid=$(su postgres -c "psql -d nova -qtAc \"SELECT uuid FROM compute_nodes WHERE host = 'nuvola-ci' AND deleted = 0 LIMIT 1\"")
  [[ -n "$node_uuid" ]] && echo "$node_uuid" >"$nova_run/state/compute_id"
fi
for svc in conductor scheduler compute; do
  if [[ ! -f "$nova_run/$svc.pid" ]] || ! kill -0 "$(cat "$nova_run/$svc.pid")" 2>/dev/null; then
    (cd "$nova_run" && exec nohup "$V/bin/nova-$svc" --config-file "$nova_run/nova.conf") </dev/null >"$nova_run/$svc.out" 2>&1 &
    echo $! >"$nova_run/$svc.pid"
  fi
done
# Flavors, the image, the networks; waits until the compute host is mapped.
python3 "$(dirname "${BASH_SOURCE[0]}")/openstack-seed.py" "$ks"
export NUVOLA_TEST_NOVA=1
echo "nova: APIs up (compute 8774, placement 8778, image 9292, network 9696)"
