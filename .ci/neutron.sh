#!/usr/bin/env bash
# Neutron (PyPI `neutron`, ML2 with the OVN mechanism driver, API under
# uwsgi) on a MariaDB from Debian, with OVN's northbound and southbound
# databases and ovn-northd from Debian (`ovn-central`). Sourced by
# .ci/nova.sh (which registers the `network` service in Keystone and
# defines $authtoken, the Keystone credentials every service uses).
#
# What runs: every Neutron object the driver uses is real and kept by the
# real server: networks, subnets (OVN native DHCP), routers (the
# `ovn-router` L3 plugin, no L3 agent), ports, security groups (OVN ACLs),
# floating IPs (OVN NAT). No data plane: there is no ovn-controller or Open
# vSwitch daemon. One chassis is registered in the southbound database
# under the host name nova-compute uses, so port binding succeeds the way
# it does when ovn-controller runs there; packets go nowhere.
#
# Also creates, once, the external network `public` (flat, physnet
# `public`, 172.24.4.0/24) that floating IPs come from.
set -euo pipefail

neutron_cache=${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}
neutron_run="$neutron_cache/neutron-run"
ovn_run="$neutron_cache/ovn-run"
NV="$neutron_cache/neutron"
neutron_host=${NUVOLA_CI_NOVA_HOST:-nuvola-ci}
mkdir -p "$neutron_run" "$ovn_run"

neutron_apt=()
command -v ovn-northd >/dev/null || neutron_apt+=(ovn-central)
command -v mariadbd >/dev/null || neutron_apt+=(mariadb-server)
if ((${#neutron_apt[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${neutron_apt[@]}" >/dev/null
fi
if [[ ! -f "$NV/.installed" || "$(cat "$NV/.installed")" != "neutron pymysql uwsgi" ]]; then
  neutron_start=$SECONDS
  rm -rf "$NV"
  python3 -m venv "$NV"
  "$NV/bin/pip" install -q --disable-pip-version-check neutron pymysql uwsgi
  echo "neutron pymysql uwsgi" >"$NV/.installed"
  echo "neutron: installed in $((SECONDS - neutron_start)) s"
fi

# OVN: the two databases and northd.
ovn_db() { # name schema port
  [[ -f "$ovn_run/$1.db" ]] || ovsdb-tool create "$ovn_run/$1.db" "/usr/share/ovn/$2"
  if ! ovsdb-client list-dbs "tcp:127.0.0.1:$3" >/dev/null 2>&1; then
    ovsdb-server --detach --no-chdir --pidfile="$ovn_run/$1.pid" --log-file="$ovn_run/$1.log" \
      --unixctl="$ovn_run/$1.ctl" --remote="punix:$ovn_run/$1.sock" --remote="ptcp:$3:127.0.0.1" "$ovn_run/$1.db"
  fi
}
ovn_db nb ovn-nb.ovsschema 6641
ovn_db sb ovn-sb.ovsschema 6642
if [[ ! -f "$ovn_run/northd.pid" ]] || ! kill -0 "$(cat "$ovn_run/northd.pid")" 2>/dev/null; then
  ovn-northd --detach --no-chdir --pidfile="$ovn_run/northd.pid" --log-file="$ovn_run/northd.log" \
    --unixctl="$ovn_run/northd.ctl" --ovnnb-db="unix:$ovn_run/nb.sock" --ovnsb-db="unix:$ovn_run/sb.sock"
fi
sbctl() { ovn-sbctl --db="unix:$ovn_run/sb.sock" "$@"; }
sbctl --may-exist chassis-add "$neutron_host" geneve 127.0.0.1
sbctl set chassis "$neutron_host" hostname="$neutron_host" \
  other_config:ovn-bridge-mappings=public:br-ex other_config:ovn-cms-options=enable-chassis-as-gw
# Neutron counts a chassis as a live agent by its Chassis_Private row
# (ovn-controller keeps nb_cfg in step); a long agent_down_time below keeps
# this one alive (for 24 days from the last run of this script) though
# nothing bumps it.
if [[ -z "$(sbctl --bare --columns=_uuid find Chassis_Private name="$neutron_host")" ]]; then
  chassis_uuid=$(sbctl --bare --columns=_uuid find Chassis name="$neutron_host")
  sbctl create Chassis_Private name="$neutron_host" chassis="$chassis_uuid" >/dev/null
fi
sbctl set Chassis_Private "$neutron_host" nb_cfg_timestamp="$(($(date +%s) * 1000))"

# Database: Neutron's migrations no longer run on PostgreSQL (they use
# MySQL-only DDL), so it gets a MariaDB from Debian on loopback.
if ! mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1; then
  install -d -o mysql -g mysql /run/mysqld
  (nohup mariadbd --user=mysql --bind-address=127.0.0.1 --socket=/run/mysqld/mysqld.sock \
    </dev/null >"$neutron_run/mariadb.out" 2>&1 &)
  for _ in $(seq 1 60); do mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
ci_mariadb_db neutron

cp "$NV/etc/neutron/api-paste.ini" "$neutron_run/api-paste.ini"
cat >"$neutron_run/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = ovn-router
auth_strategy = keystone
api_paste_config = $neutron_run/api-paste.ini
state_path = $neutron_run/state
host = $neutron_host
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
agent_down_time = 2147483
log_file = $neutron_run/neutron.log
[database]
connection = mysql+pymysql://neutron:neutron@127.0.0.1/neutron
[keystone_authtoken]
$authtoken
[nova]
$authtoken
[ml2]
type_drivers = flat,geneve
tenant_network_types = geneve
mechanism_drivers = ovn
extension_drivers = port_security
[ml2_type_geneve]
vni_ranges = 1:65536
max_header_size = 38
[ml2_type_flat]
flat_networks = public
[ovn]
ovn_nb_connection = tcp:127.0.0.1:6641
ovn_sb_connection = tcp:127.0.0.1:6642
ovn_metadata_enabled = false
[oslo_concurrency]
lock_path = $neutron_run/locks
EOF
mkdir -p "$neutron_run/state" "$neutron_run/locks"
cat >"$neutron_run/uwsgi.ini" <<EOF
[uwsgi]
http = 127.0.0.1:9696
http-keepalive = true
module = neutron.wsgi.api:application
master = true
die-on-term = true
enable-threads = true
lazy-apps = true
processes = 1
threads = 4
buffer-size = 65535
start-time = %t
pidfile = $neutron_run/api.pid
EOF
if [[ ! -f "$neutron_run/.synced" ]]; then
  "$NV/bin/neutron-db-manage" --config-file "$neutron_run/neutron.conf" upgrade heads >"$neutron_run/db-manage.log" 2>&1
  touch "$neutron_run/.synced"
fi
ci_restart_on_change "$neutron_run/neutron.conf" "$neutron_run/api.pid"
if ! curl -s -o /dev/null -m 2 http://127.0.0.1:9696; then
  (cd "$neutron_run" && OS_NEUTRON_CONFIG_DIR="$neutron_run" OS_NEUTRON_CONFIG_FILES=neutron.conf \
    exec nohup "$NV/bin/uwsgi" --ini "$neutron_run/uwsgi.ini") </dev/null >"$neutron_run/api.out" 2>&1 &
  for _ in $(seq 1 240); do curl -s -o /dev/null -m 2 http://127.0.0.1:9696 && break; sleep 0.5; done
  curl -s -o /dev/null -m 2 http://127.0.0.1:9696 || { tail -30 "$neutron_run/api.out" >&2; false; }
fi
echo "neutron: API up (network 9696, OVN nb 6641, sb 6642)"
