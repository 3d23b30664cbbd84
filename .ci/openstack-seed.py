"""Makes, once, what the OpenStack driver tests expect on the CI cloud:
flavors m1.tiny and m1.small, image `cirros` in Glance, the external
network `public` with its subnet, a shared tenant network `private` routed
to it; then waits until nova-compute's host is mapped and up.

Idempotent: looks each thing up by name first. Standard library only.
Usage: python3 openstack-seed.py KEYSTONE_V3_URL
"""

import json
import sys
import time
import urllib.error
import urllib.request

KS = sys.argv[1].rstrip("/")
COMPUTE = "http://127.0.0.1:8774/v2.1"
IMAGE = "http://127.0.0.1:9292"
NETWORK = "http://127.0.0.1:9696/v2.0"
VOLUME = "http://127.0.0.1:8776/v3"
PLACEMENT = "http://127.0.0.1:8778"


def call(method, url, body=None, token=None, raw=None, headers=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
            return r.status, dict(r.headers), (json.loads(text) if text.strip() else None)
    except urllib.error.HTTPError as e:
        raise SystemExit(f"seed: {method} {url}: HTTP {e.code}: {e.read()[:400]!r}")


def token():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"name": "Default"}, "password": "nuvola-admin"}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    _, headers, _ = call("POST", f"{KS}/auth/tokens", body)
    return headers["X-Subject-Token"]


def main():
    t = token()
    # Nova and Neutron send each other the user's token plus a service
    # token; keystonemiddleware wants the `service` role on the latter.
    _, _, roles = call("GET", f"{KS}/roles?name=service", token=t)
    role = roles["roles"][0] if roles["roles"] else call("POST", f"{KS}/roles", {"role": {"name": "service"}}, t)[2][
        "role"]
    _, _, users = call("GET", f"{KS}/users?name=admin", token=t)
    _, _, projects = call("GET", f"{KS}/projects?name=admin", token=t)
    call("PUT", f"{KS}/projects/{projects['projects'][0]['id']}/users/{users['users'][0]['id']}/roles/{role['id']}",
         token=t)
    # Room for the tests of the admin project: no quota on it.
    project_id = projects["projects"][0]["id"]
    call("PUT", f"{COMPUTE}/os-quota-sets/{project_id}", {"quota_set": {
        "instances": -1, "cores": -1, "ram": -1, "key_pairs": -1}}, t)
    call("PUT", f"{NETWORK}/quotas/{project_id}", {"quota": {
        "floatingip": -1, "network": -1, "subnet": -1, "router": -1, "port": -1, "security_group": -1,
        "security_group_rule": -1}}, t)
    call("PUT", f"{VOLUME}/{project_id}/os-quota-sets/{project_id}", {"quota_set": {
        "volumes": -1, "gigabytes": -1, "snapshots": -1}}, t)
    # Volume type `standard` on the fake backend.
    _, _, types = call("GET", f"{VOLUME}/{project_id}/types", token=t)
    if not any(v["name"] == "standard" for v in types["volume_types"]):
        vt = call("POST", f"{VOLUME}/{project_id}/types", {"volume_type": {
            "name": "standard", "extra_specs": {"volume_backend_name": "fake"}}}, t)[2]["volume_type"]
    # Flavors.
    _, _, flavors = call("GET", f"{COMPUTE}/flavors", token=t)
    have = {f["name"] for f in flavors["flavors"]}
    for name, ram, disk in (("m1.tiny", 512, 1), ("m1.small", 2048, 10)):
        if name not in have:
            call("POST", f"{COMPUTE}/flavors", {"flavor": {"name": name, "ram": ram, "vcpus": 1,
                                                            "disk": disk}}, t)
    # Image: a few bytes, enough for the fake virt driver.
    _, _, images = call("GET", f"{IMAGE}/v2/images?name=cirros", token=t)
    if not any(i["status"] == "active" for i in images["images"]):
        for i in images["images"]:
            call("DELETE", f"{IMAGE}/v2/images/{i['id']}", token=t)
        _, _, image = call("POST", f"{IMAGE}/v2/images", {"name": "cirros", "disk_format": "raw",
                                                         "container_format": "bare", "visibility": "public"}, t)
        call("PUT", f"{IMAGE}/v2/images/{image['id']}/file", token=t, raw=b"\0" * 1024,
             headers={"Content-Type": "application/octet-stream"})
    # Networks.
    def find(kind, name):
        _, _, found = call("GET", f"{NETWORK}/{kind}?name={name}", token=t)
        items = found[kind]
        return items[0] if items else None

    public = find("networks", "public") or call("POST", f"{NETWORK}/networks", {"network": {
        "name": "public", "router:external": True, "shared": False, "provider:network_type": "flat",
        "provider:physical_network": "public"}}, t)[2]["network"]
    if not find("subnets", "public-subnet"):
        call("POST", f"{NETWORK}/subnets", {"subnet": {"name": "public-subnet", "network_id": public["id"],
                                                       "ip_version": 4, "cidr": "172.24.4.0/24",
                                                       "enable_dhcp": False}}, t)
    private = find("networks", "private") or call("POST", f"{NETWORK}/networks", {"network": {
        "name": "private", "shared": True}}, t)[2]["network"]
    subnet = find("subnets", "private-subnet") or call("POST", f"{NETWORK}/subnets", {"subnet": {
        "name": "private-subnet", "network_id": private["id"], "ip_version": 4, "cidr": "10.0.0.0/24"}}, t)[2][
        "subnet"]
    if not find("routers", "ci-router"):
        router = call("POST", f"{NETWORK}/routers", {"router": {
            "name": "ci-router", "external_gateway_info": {"network_id": public["id"]}}}, t)[2]["router"]
        call("PUT", f"{NETWORK}/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]}, t)
    # The compute host: mapped to the cell and up.
    start = time.time()
    while True:
        _, _, hv = call("GET", f"{COMPUTE}/os-hypervisors", token=t)
        _, _, svc = call("GET", f"{COMPUTE}/os-services?binary=nova-compute", token=t)
        if hv["hypervisors"] and any(s["state"] == "up" for s in svc["services"]):
            # ... and its resources known to Placement, or the scheduler
            # finds no host for the first servers.
            _, _, rps = call("GET", f"{PLACEMENT}/resource_providers", token=t)
            inventories = [call("GET", f"{PLACEMENT}/resource_providers/{rp['uuid']}/inventories", token=t)[2]
                           for rp in rps["resource_providers"]]
            if any(i["inventories"].get("VCPU") for i in inventories):
                break
        if time.time() - start > 120:
            raise SystemExit("seed: nova-compute did not register within 120 s (see nova-run/compute.out)")
        time.sleep(1)
    # The volume service up (cinder-volume reports to the scheduler).
    while True:
        _, _, svc = call("GET", f"{VOLUME}/{project_id}/os-services?binary=cinder-volume", token=t)
        if any(s["state"] == "up" for s in svc["services"]):
            break
        if time.time() - start > 120:
            raise SystemExit("seed: cinder-volume did not come up within 120 s (see cinder-run/volume.out)")
        time.sleep(1)
    print(f"seed: flavors, image cirros, volume type standard, networks public/private ready; "
          f"compute host up after {time.time() - start:.1f} s")


main()
