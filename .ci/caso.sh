#!/usr/bin/env bash
# Sourced by .ci/cloud.sh once Nova, Cinder and Neutron are up: the real
# cASO (PyPI `caso`, the accounting extractor EGI and INFN sites run),
# installed into a venv under the CI cache and configured against the CI
# Keystone as a site would configure it:
#
#   - site `NUVOLA-CI`; Keystone user `caso` (password `nuvola-caso`)
#     with the `reader` role on each project cASO reads and on the system
#     (to list the tagged projects and read user names), as a site gives
#     its accounting user. Not an admin: Cinder refuses the `changes-since`
#     filter cASO lists volumes with (no such column) when an admin asks,
#     and drops it for anyone else, so only then does cASO see volumes;
#   - the projects to extract are those tagged `caso` in Keystone: the
#     project `caso-ci`, made here, whose VO is its `VO` property
#     (`nuvola.ci`), as cASO 5 reads the project-to-VO mapping;
#   - extractors nova (cloud and accelerator records), cinder (storage
#     records) and neutron (public IP records);
#   - messenger `ssm`, which leaves each message as one file of a dirq
#     queue, SSM's outgoing folder (.ci/caso-extract.sh names the folder).
#
# Idempotent: ~30 s to install the venv, ~2 s when installed and set up.
# Exports NUVOLA_TEST_CASO (the configuration .ci/caso-extract.sh reads),
# NUVOLA_TEST_CASO_PROJECT and NUVOLA_TEST_CASO_SITE.
set -euo pipefail

caso_start=$SECONDS
caso_cache=${cloud_cache:-${NUVOLA_CI_CACHE:-/var/cache/nuvola-ci}}
caso_version=5.2.2
caso_venv="$caso_cache/caso"
if [[ ! -f "$caso_venv/.installed" || "$(cat "$caso_venv/.installed")" != "caso==$caso_version" ]]; then
  echo "caso: installing caso==$caso_version into $caso_venv"
  rm -rf "$caso_venv"
  python3 -m venv "$caso_venv"
  "$caso_venv/bin/pip" install -q --disable-pip-version-check "caso==$caso_version"
  echo "caso==$caso_version" >"$caso_venv/.installed"
  echo "caso: installed in $((SECONDS - caso_start)) s"
fi

caso_run="$caso_cache/caso-run"
mkdir -p "$caso_run"
caso_site=NUVOLA-CI
caso_project=caso-ci
caso_vo=nuvola.ci
cat >"$caso_run/caso.conf" <<CONF
[DEFAULT]
site_name = $caso_site
extractor = nova,cinder,neutron
messengers = ssm
caso_tag = caso
vo_property = VO
spooldir = $caso_run/spool
region_name = RegionOne

[keystone_auth]
auth_type = password
auth_url = $NUVOLA_TEST_KEYSTONE_URL
username = caso
password = nuvola-caso
user_domain_name = Default
project_domain_name = Default

[ssm]
max_size = 100
CONF

# The project cASO reads, tagged, with its VO; cASO's reader user; the
# admin role on the project for the tests that make servers in it.
if [[ "$(cat "$caso_run/.project" 2>/dev/null)" != "$caso_project $caso_vo caso" ]]; then
  "$caso_venv/bin/python" - "$NUVOLA_TEST_KEYSTONE_URL" "$caso_project" "$caso_vo" <<'PY'
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
from keystoneclient.v3 import client

url, name, vo = sys.argv[1:]
auth = v3.Password(auth_url=url, username="admin", password="nuvola-admin", project_name="admin",
                   user_domain_name="Default", project_domain_name="Default")
ks = client.Client(session=session.Session(auth=auth), interface="public")
found = ks.projects.list(name=name, domain="default")
project = found[0] if found else ks.projects.create(name, "default", description="cASO's CI project")
ks.projects.update(project, tags=["caso"], VO=vo)
admin = ks.users.list(name="admin", domain="default")[0]
ks.roles.grant(ks.roles.list(name="admin")[0], user=admin, project=project)
found = ks.users.list(name="caso", domain="default")
caso = found[0] if found else ks.users.create("caso", domain="default", password="nuvola-caso")
reader = ks.roles.list(name="reader")[0]
ks.roles.grant(reader, user=caso, project=project)
ks.roles.grant(reader, user=caso, system="all")
print(f"caso: project {name} ({project.id}) tagged caso, VO {vo}")
PY
  echo "$caso_project $caso_vo caso" >"$caso_run/.project"
fi
export NUVOLA_TEST_CASO="$caso_run/caso.conf"
export NUVOLA_TEST_CASO_PROJECT="$caso_project" NUVOLA_TEST_CASO_SITE="$caso_site"
echo "caso: $("$caso_venv/bin/caso-extract" --version 2>&1) configured in $((SECONDS - caso_start)) s ($NUVOLA_TEST_CASO)"
