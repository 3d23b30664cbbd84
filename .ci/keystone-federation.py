"""Federates the CI Keystone with the test OIDC provider, once: identity
provider `nuvola-test` (remote id: the issuer), protocol `openid` with a
mapping that makes the access token's `sub` an ephemeral federated user and
puts members of the OIDC group `physics` into Keystone group
`federated-physics`, which has role `member` on project `physics`.

Idempotent: creates what is missing and brings what exists up to date.
Standard library only.
Usage: python3 keystone-federation.py KEYSTONE_V3_URL ISSUER
"""

import json
import sys
import urllib.error
import urllib.request

KS = sys.argv[1].rstrip("/")
ISSUER = sys.argv[2]
IDP = "nuvola-test"
MAPPING = "nuvola-test-mapping"

RULES = [
    {
        "local": [
            {"user": {"name": "{0}"}},
            {"group": {"name": "federated-physics", "domain": {"name": "Default"}}},
        ],
        "remote": [
            {"type": "HTTP_OIDC_CLAIM_SUB"},
            {"type": "HTTP_OIDC_CLAIM_GROUPS", "any_one_of": ["physics"]},
        ],
    }
]


def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    req = urllib.request.Request(KS + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Accept", "application/json")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return r.status, dict(r.headers), (json.loads(text) if text.strip() else None)
    except urllib.error.HTTPError as e:
        if e.code in ok:
            return e.code, dict(e.headers), None
        raise SystemExit(f"keystone-federation: {method} {path}: HTTP {e.code}: {e.read()[:400]!r}")


def one(token, collection, name, create):
    """The id of the `collection` entry called `name`, made by `create` when missing."""
    _, _, found = call("GET", f"/{collection}?name={name}", token=token)
    items = found[collection]
    if items:
        return items[0]["id"]
    key = collection[:-1]
    return call("POST", f"/{collection}", {key: create}, token)[2][key]["id"]


def put_or_patch(token, path, key, body):
    status, _, _ = call("PUT", path, {key: body}, token, ok=(200, 201, 409))
    if status == 409:
        call("PATCH", path, {key: body}, token)


def main():
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "nuvola-admin"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    token = call("POST", "/auth/tokens", auth)[1]["X-Subject-Token"]
    project = one(token, "projects", "physics", {"name": "physics", "domain_id": "default"})
    group = one(token, "groups", "federated-physics", {"name": "federated-physics", "domain_id": "default"})
    role = one(token, "roles", "member", {"name": "member"})
    call("PUT", f"/projects/{project}/groups/{group}/roles/{role}", token=token)
    put_or_patch(token, f"/OS-FEDERATION/identity_providers/{IDP}", "identity_provider",
                 {"remote_ids": [ISSUER], "enabled": True})
    put_or_patch(token, f"/OS-FEDERATION/mappings/{MAPPING}", "mapping", {"rules": RULES})
    put_or_patch(token, f"/OS-FEDERATION/identity_providers/{IDP}/protocols/openid", "protocol",
                 {"mapping_id": MAPPING})


if __name__ == "__main__":
    main()
