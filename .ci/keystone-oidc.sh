#!/usr/bin/env bash
# Keystone federated with the test OIDC provider, the way production sites
# accept a federation's issuer: Apache with mod_auth_openidc (Debian) in
# front of Keystone, checking bearer access tokens (OAuth 2.0 resource
# server mode, signatures against the issuer's JWKS) on Keystone's
# OS-FEDERATION auth path and passing the token's claims on as
# OIDC-CLAIM-* headers, which Keystone's `openid` method maps to a
# federated user in groups with roles on projects.
#
#   127.0.0.1:$NUVOLA_CI_KEYSTONE_OIDC_PORT (5001)  Keystone through Apache
#   127.0.0.1:$NUVOLA_CI_OIDC_TLS_PORT (9443)       the OIDC provider over
#       TLS (mod_auth_openidc fetches keys only over https), with a
#       self-signed certificate made here.
#
# Identity provider `nuvola-test` (remote id: the issuer), protocol
# `openid`, mapping: claim `groups` containing `physics` -> group
# `federated-physics`, role `member` on project `physics`; the user is the
# token's `sub`. Made once by keystone-federation.py.
#
# Sourced by cloud.sh after Keystone, when the OIDC provider runs
# (NUVOLA_TEST_OIDC_ISSUER); exports NUVOLA_TEST_KEYSTONE_OIDC_URL.
# Idempotent: already running, it only checks readiness (~0.1 s).
set -euo pipefail

kso_port=${NUVOLA_CI_KEYSTONE_OIDC_PORT:-5001}
kso_tls_port=${NUVOLA_CI_OIDC_TLS_PORT:-9443}
kso_run="$cloud_cache/keystone-oidc"
kso_issuer=${NUVOLA_TEST_OIDC_ISSUER:?keystone-oidc.sh needs the OIDC provider (services.sh)}
mkdir -p "$kso_run"

kso_apt=()
dpkg -s apache2 >/dev/null 2>&1 || kso_apt+=(apache2)
dpkg -s libapache2-mod-auth-openidc >/dev/null 2>&1 || kso_apt+=(libapache2-mod-auth-openidc)
if ((${#kso_apt[@]})); then
  echo "cloud: installing ${kso_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${kso_apt[@]}" >/dev/null
fi

if [[ ! -f "$kso_run/tls.crt" ]]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$kso_run/tls.key" -out "$kso_run/tls.crt" -days 3650 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE 2>/dev/null
  chmod 0644 "$kso_run/tls.key" # a loopback test certificate; Apache's workers read it
fi

cat >"$kso_run/httpd.conf.new" <<EOF
ServerRoot /usr/lib/apache2
ServerName 127.0.0.1
User www-data
Group www-data
Listen 127.0.0.1:$kso_port
Listen 127.0.0.1:$kso_tls_port
PidFile $kso_run/httpd.pid
DefaultRuntimeDir $kso_run
ErrorLog $kso_run/error.log
LogLevel warn
LoadModule mpm_event_module modules/mod_mpm_event.so
LoadModule authz_core_module modules/mod_authz_core.so
LoadModule authz_user_module modules/mod_authz_user.so
LoadModule authn_core_module modules/mod_authn_core.so
LoadModule auth_openidc_module modules/mod_auth_openidc.so
LoadModule proxy_module modules/mod_proxy.so
LoadModule proxy_http_module modules/mod_proxy_http.so
LoadModule ssl_module modules/mod_ssl.so
LoadModule socache_shmcb_module modules/mod_socache_shmcb.so
SSLSessionCache none
<VirtualHost 127.0.0.1:$kso_tls_port>
  SSLEngine on
  SSLCertificateFile $kso_run/tls.crt
  SSLCertificateKeyFile $kso_run/tls.key
  ProxyPass / $kso_issuer/
</VirtualHost>
<VirtualHost 127.0.0.1:$kso_port>
  OIDCCryptoPassphrase nuvola-ci-loopback-only
  OIDCCABundlePath $kso_run/tls.crt
  OIDCOAuthVerifyJwksUri https://127.0.0.1:$kso_tls_port/jwks
  OIDCOAuthRemoteUserClaim sub
  OIDCClaimDelimiter ;
  OIDCClaimPrefix OIDC-CLAIM-
  ProxyPass / http://127.0.0.1:$ks_port/
  ProxyPassReverse / http://127.0.0.1:$ks_port/
  <LocationMatch "^/v3/OS-FEDERATION/identity_providers/[^/]+/protocols/openid/auth">
    AuthType oauth20
    Require valid-user
  </LocationMatch>
</VirtualHost>
EOF
kso_running() { [[ -f "$kso_run/httpd.pid" ]] && kill -0 "$(cat "$kso_run/httpd.pid")" 2>/dev/null; }
# Whether something still listens on Apache's ports (a stopping Apache
# removes its pid file before its children let go of them).
kso_listening() {
  local port
  for port in "$kso_port" "$kso_tls_port"; do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
  done
  return 1
}
# The issuer's keys as Apache last fetched them: a restarted issuer has new
# ones, which Apache's cache would not know yet.
kso_keys=$(curl -s -m 5 "$kso_issuer/jwks" | sha256sum | cut -d' ' -f1)
if kso_running && { ! cmp -s "$kso_run/httpd.conf.new" "$kso_run/httpd.conf" ||
  [[ "$(cat "$kso_run/jwks.sha256" 2>/dev/null)" != "$kso_keys" ]]; }; then
  echo "cloud: restarting Apache for its new configuration or the issuer's new keys"
  /usr/sbin/apache2 -f "$kso_run/httpd.conf" -k stop
  for _ in $(seq 1 80); do kso_running || kso_listening || break; sleep 0.25; done
fi
mv "$kso_run/httpd.conf.new" "$kso_run/httpd.conf"
if ! kso_running; then
  /usr/sbin/apache2 -f "$kso_run/httpd.conf" -k start
fi
echo "$kso_keys" >"$kso_run/jwks.sha256"
kso_url="http://127.0.0.1:$kso_port"
cloud_wait "$kso_url/v3" 30 || { tail -20 "$kso_run/error.log" >&2; false; }
"$cloud_python" "$(dirname "${BASH_SOURCE[0]}")/keystone-federation.py" "$ks_url/v3" "$kso_issuer"
export NUVOLA_TEST_KEYSTONE_OIDC_URL="$kso_url/v3"
echo "cloud: Keystone federated with $kso_issuer at $kso_url/v3"
