"""Registers Placement in Keystone (run by the placement entrypoint before it serves): project "service", user
"placement" with the admin role there, service "placement" and its public, internal and admin endpoints. Each is made
only when missing, and the user's password is set again, so a restart or a second host changes nothing else."""
import os
import sys

from keystoneauth1 import session
from keystoneauth1.exceptions import ClientException
from keystoneauth1.identity import v3

env = os.environ
keystone = f"http://{env['KEYSTONE_SERVER']}:5000/v3"
region = env.get('REGION', 'RegionOne')
admin = v3.Password(auth_url=keystone, username=env.get('ADMIN_USER', 'admin'), password=env['ADMIN_PASSWORD'],
                    project_name=env.get('ADMIN_TENANT', 'admin'), user_domain_id='default', project_domain_id='default')
# A connection Keystone dropped is tried again rather than failing the container's start.
s = session.Session(auth=admin, connect_retries=3)


def one(kind, query, body):
    """The first `kind` matching query, made from body when there is none."""
    found = s.get(f'{keystone}/{kind}s', params=query).json()[f'{kind}s']
    if found:
        return found[0]
    return s.post(f'{keystone}/{kind}s', json={kind: body}).json()[kind]


try:
    project = one('project', {'name': 'service', 'domain_id': 'default'}, {'name': 'service', 'domain_id': 'default'})
    password = env.get('PLACEMENT_PASSWORD') or env['ADMIN_PASSWORD']
    user = one('user', {'name': 'placement', 'domain_id': 'default'}, {'name': 'placement', 'domain_id': 'default', 'password': password})
    s.patch(f"{keystone}/users/{user['id']}", json={'user': {'password': password}})
    role = one('role', {'name': 'admin'}, {'name': 'admin'})
    s.put(f"{keystone}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
    service = one('service', {'type': 'placement'}, {'name': 'placement', 'type': 'placement', 'enabled': True})
    for interface in ('public', 'internal', 'admin'):
        one('endpoint', {'service_id': service['id'], 'interface': interface, 'region_id': region},
            {'service_id': service['id'], 'interface': interface, 'region_id': region, 'url': env['PLACEMENT_URL'], 'enabled': True})
except (ClientException, KeyError) as e:
    sys.exit(f'placement entrypoint: cannot register Placement in Keystone at {keystone}: {e}')
print(f"placement entrypoint: registered in Keystone's catalog ({region}): {env['PLACEMENT_URL']}")
