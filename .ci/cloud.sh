#!/usr/bin/env bash
# Installs (from PyPI, into venvs under a cache folder) and starts on
# loopback the real cloud services the driver tests use:
#
#   - the Infrastructure Manager (PyPI `im`) with its Dummy connector,
#     REST API on 127.0.0.1:$NUVOLA_CI_IM_PORT (8899);
#   - Keystone (PyPI `keystone`, SQLite, served by uwsgi) on
#     127.0.0.1:$NUVOLA_CI_KEYSTONE_PORT (5000), bootstrapped with an
#     `admin` user (password `nuvola-admin`) in project `admin`, region
#     `RegionOne`;
#   - when the OIDC provider runs (.ci/services.sh), the same Keystone
#     federated with it through Apache + mod_auth_openidc on
#     127.0.0.1:5001 (.ci/keystone-oidc.sh);
#   - Nova (fake virt driver), Placement, Glance, Neutron (ML2/OVN) and
#     Cinder (fake volume driver), registered in that Keystone
#     (.ci/nova.sh, neutron.sh, cinder.sh); skip them with
#     NUVOLA_CI_SKIP_NOVA=1; with them, cASO (.ci/caso.sh) configured
#     to extract their accounting records. Measured on 2 cores: with no venv, no pip
#     cache and empty databases they take 224 s to install and start (plus
#     ~30 s of apt for ovn-central and mariadb-server); with the venvs
#     cached, ~2 min; already running, ~6 s.
#
# Idempotent and quick when installed and running: a second run only
# checks readiness; stop them with `kill $(cat <cache>/{im,keystone}-run/pid)`.
# Source it: it exports NUVOLA_TEST_IM_URL and
# NUVOLA_TEST_KEYSTONE_URL (+ _USER, _PASSWORD, _PROJECT) and
# NUVOLA_TEST_KEYSTONE_OIDC_URL. Set
# NUVOLA_CI_SKIP_CLOUD=1 to skip it all.
set -euo pipefail

if [[ "${NUVOLA_CI_SKIP_CLOUD:-}" == 1 ]]; then
  echo "cloud: skipped (NUVOLA_CI_SKIP_CLOUD=1)"
  return 0 2>/dev/null || exit 0
fi

cloud_cache=${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}
if ! mkdir -p "$cloud_cache" 2>/dev/null; then
  cloud_cache="$HOME/.cache/nuvola-ci"
  mkdir -p "$cloud_cache"
fi
cloud_python=${NUVOLA_CI_PYTHON:-python3}
im_port=${NUVOLA_CI_IM_PORT:-8899}
ks_port=${NUVOLA_CI_KEYSTONE_PORT:-5000}

# Makes venv $1 with packages $2... unless its marker says it has them.
cloud_venv() {
  local venv="$cloud_cache/$1"
  shift
  local want="$*"
  if [[ -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$want" ]]; then
    return 0
  fi
  local start=$SECONDS
  echo "cloud: installing $want into $venv"
  rm -rf "$venv"
  "$cloud_python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$@"
  echo "$want" >"$venv/.installed"
  echo "cloud: installed $want in $((SECONDS - start)) s"
}

# Waits until `curl $1` answers (any HTTP status), up to $2 seconds.
cloud_wait() {
  local url=$1 limit=$2 start=$SECONDS
  until curl -s -o /dev/null -m 2 "$url"; do
    if ((SECONDS - start > limit)); then
      echo "cloud: $url not ready after $limit s" >&2
      return 1
    fi
    sleep 0.3
  done
}

cloud_up() { curl -s -o /dev/null -m 2 "$1"; }

# --- Infrastructure Manager ---------------------------------------------
# tosca-parser pinned too: its checks decide which templates IM accepts.
cloud_venv im "im==2.0.0" "tosca-parser==2.15.0"
im_run="$cloud_cache/im-run"
mkdir -p "$im_run"
im_site=$("$cloud_cache/im/bin/python" -c 'import IM, os; print(os.path.dirname(os.path.dirname(IM.__file__)))')
# IM reads its configuration from <site-packages>/im.cfg (or /etc/im/im.cfg).
cat >"$im_site/im.cfg.new" <<EOF
[im]
REST_ADDRESS = 127.0.0.1
REST_PORT = $im_port
DATA_DB = sqlite://$im_run/inf.dat
LOG_FILE = $im_run/inf.log
LOG_LEVEL = INFO
EOF
mv "$im_site/im.cfg.new" "$im_site/im.cfg"
im_url="http://127.0.0.1:$im_port"
if ! cloud_up "$im_url/version"; then
  (cd "$im_run" && exec nohup "$cloud_cache/im/bin/im_service" </dev/null >"$im_run/im.out" 2>&1 & echo $! >"$im_run/pid")
  cloud_wait "$im_url/version" 60 || { tail -20 "$im_run/im.out" >&2; false; }
fi
export NUVOLA_TEST_IM_URL="$im_url"
echo "cloud: IM $(curl -s -m 2 "$im_url/version") ready at $im_url"

# --- Keystone -------------------------------------------------------------
cloud_venv keystone keystone uwsgi
ks_run="$cloud_cache/keystone-run"
ks_url="http://127.0.0.1:$ks_port"
mkdir -p "$ks_run"
cat >"$ks_run/keystone.conf" <<EOF
[DEFAULT]
log_file = $ks_run/keystone.log
[database]
connection = sqlite:///$ks_run/keystone.db
[fernet_tokens]
key_repository = $ks_run/fernet-keys
[credential]
key_repository = $ks_run/credential-keys
[token]
provider = fernet
expiration = 3600
[auth]
methods = password,token,application_credential,openid
[openid]
# Set by mod_auth_openidc in front of Keystone (.ci/keystone-oidc.sh): the
# access token's issuer names the identity provider.
remote_id_attribute = HTTP_OIDC_CLAIM_ISS
EOF
ks_manage() { "$cloud_cache/keystone/bin/keystone-manage" --config-file "$ks_run/keystone.conf" "$@" >>"$ks_run/manage.log" 2>&1; }
if [[ ! -f "$ks_run/.bootstrapped" ]]; then
  ks_manage db_sync
  ks_manage fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
  ks_manage credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
  ks_manage bootstrap --bootstrap-password nuvola-admin \
    --bootstrap-admin-url "$ks_url/v3/" --bootstrap-internal-url "$ks_url/v3/" \
    --bootstrap-public-url "$ks_url/v3/" --bootstrap-region-id RegionOne
  touch "$ks_run/.bootstrapped"
fi
# A Keystone an older version of this script started without keep-alive
# drops pooled connections that OpenStack's own services reuse: restart it.
ks_cmdline() { tr '\0' ' ' <"/proc/$(cat "$ks_run/pid")/cmdline"; }
if [[ -f "$ks_run/pid" ]] && kill -0 "$(cat "$ks_run/pid")" 2>/dev/null &&
  ks_cmdline | grep -q -- "--http 127.0.0.1:$ks_port " && ! ks_cmdline | grep -q -- --http-keepalive; then
  echo "cloud: restarting Keystone with keep-alive"
  kill -INT "$(cat "$ks_run/pid")"
  for _ in $(seq 1 40); do cloud_up "$ks_url/v3" || break; sleep 0.25; done
fi
# A Keystone started with another configuration: restart it.
ks_conf_sum=$(sha256sum <"$ks_run/keystone.conf" | cut -d' ' -f1)
if [[ -f "$ks_run/pid" ]] && kill -0 "$(cat "$ks_run/pid")" 2>/dev/null &&
  [[ "$(cat "$ks_run/conf.sha256" 2>/dev/null)" != "$ks_conf_sum" ]]; then
  echo "cloud: restarting Keystone for its new configuration"
  kill -INT "$(cat "$ks_run/pid")"
  for _ in $(seq 1 40); do cloud_up "$ks_url/v3" || break; sleep 0.25; done
fi
echo "$ks_conf_sum" >"$ks_run/conf.sha256"
if ! cloud_up "$ks_url/v3"; then
  (cd "$ks_run" && OS_KEYSTONE_CONFIG_FILES="$ks_run/keystone.conf" exec nohup "$cloud_cache/keystone/bin/uwsgi" \
    --http "127.0.0.1:$ks_port" --http-keepalive --module keystone.wsgi.api:application \
    --master --die-on-term --processes 2 --threads 2 --pidfile "$ks_run/pid" </dev/null >"$ks_run/uwsgi.out" 2>&1 &)
  cloud_wait "$ks_url/v3" 60 || { tail -20 "$ks_run/uwsgi.out" >&2; false; }
fi
export NUVOLA_TEST_KEYSTONE_URL="$ks_url/v3"
export NUVOLA_TEST_KEYSTONE_USER=admin NUVOLA_TEST_KEYSTONE_PASSWORD=nuvola-admin NUVOLA_TEST_KEYSTONE_PROJECT=admin
echo "cloud: Keystone ready at $ks_url/v3"
if [[ -n "${NUVOLA_TEST_OIDC_ISSUER:-}" ]]; then
  source "$(dirname "${BASH_SOURCE[0]}")/keystone-oidc.sh"
fi

# Nova (fake virt driver) + Placement + Glance, Neutron (ML2/OVN) and Cinder
# (fake volume driver): the OpenStack driver's server, network, volume and
# floating IP tests.
if [[ "${NUVOLA_CI_SKIP_NOVA:-}" == 1 ]]; then
  echo "cloud: Nova skipped (NUVOLA_CI_SKIP_NOVA=1)"
else
  nova_start=$SECONDS
  source "$(dirname "${BASH_SOURCE[0]}")/nova.sh"
  echo "cloud: Nova, Placement, Glance, Neutron and Cinder ready in $((SECONDS - nova_start)) s"
  # cASO, the accounting extractor sites run, reading that cloud.
  source "$(dirname "${BASH_SOURCE[0]}")/caso.sh"
fi
