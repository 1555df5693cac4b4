// Orphans: containers that carry a topology's label but that it no longer plans on their host (a service removed from
// the topology, or moved to another host). Listed for `diff`; stopped and removed by `run --remove-orphans` (an
// activity at the end of a run whose stages are all healthy) and by `down --orphans`. Their data directories (bind
// mounts of the host's directories) are never touched; only the container goes.
import { Context } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { OrphanRequest, OrphanResult } from '../model/activity-types';
import { orphansAmong, TOPOLOGY_LABEL, type ListedContainer } from '../model/drift';
import { sshTarget, withHost, type HostSession } from '../lib/ssh';
import { SPEC_HASH_LABEL } from './containers';
import { refuseSimulated, withHostFailures } from './hosts';

/** Every container on the host (running or not), in one listing: names, images, states and the labels drift needs. */
export async function listContainers(docker: Docker): Promise<ListedContainer[]> {
  const listing = await docker.listContainers({ all: true });
  return listing.flatMap((i) => i.Names.map((n) => ({
    name: n.replace(/^\//, ''),
    image: i.Image,
    state: i.State,
    topology: i.Labels?.[TOPOLOGY_LABEL] ?? null,
    managed: Boolean(i.Labels?.[SPEC_HASH_LABEL]),
  })));
}

/** Stops and removes the topology's orphans on the session's host; returns their names. Anonymous volumes and bind
 *  mounts stay (the engine keeps both unless asked). */
export async function removeOrphansOn(session: HostSession, topology: string, planned: string[], onRemoved: (name: string) => void = () => undefined): Promise<string[]> {
  const docker = session.docker();
  const orphans = orphansAmong(await listContainers(docker), topology, new Set(planned));
  const removed: string[] = [];
  for (const o of orphans) {
    if (o.state === 'running' || o.state === 'restarting') await docker.getContainer(o.name).stop({ t: 10 }).catch(() => undefined);
    await docker.getContainer(o.name).remove({ force: true, v: false }).catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 404) throw e; // gone meanwhile: nothing left to do
    });
    removed.push(o.name);
    onRemoved(o.name);
  }
  return removed;
}

/** The activity: a run's last step on each host when it was started with --remove-orphans. */
export async function removeOrphans(req: OrphanRequest): Promise<OrphanResult> {
  refuseSimulated('removeOrphans', req);
  return withHostFailures(req.host.name, () =>
    withHost(sshTarget(req.host, req.ssh), async (session) => ({
      host: req.host.name,
      removed: await removeOrphansOn(session, req.topology, req.planned, (name) => Context.current().heartbeat({ removed: name })),
    })),
  );
}
