// The members list clients act on is the leader's, read after a read barrier; a node's Status
// is its own view, answered locally like etcd's endpoint status.
import { LocalCluster } from '../support/cluster.js';
import { grpc, roles } from '../support/e2e.js';
import { waitFor } from '../../libs/testing/src/wait.js';

interface Members {
  members: { id: string; client_address: string; peer_address: string; is_leader: boolean }[];
  leader_id: string;
  config_index: string;
}

describe('ListMembers and Status (3-node cluster)', () => {
  const cluster = new LocalCluster();
  beforeAll(() => cluster.start(), 30_000);
  afterAll(() => cluster.stop());

  const list = (id: string) =>
    cluster.api(id).call<Members>(cluster.api(id).cluster, 'ListMembers', {}, 3_000);

  test('every node answers the leader’s list, with every member’s client address', async () => {
    const { leader, follower } = await roles(cluster);
    const complete = await waitFor('every client address in the members list', async () => {
      const m = await list(follower);
      return m.members.every((x) => x.client_address !== '') && m;
    });
    expect(complete.leader_id).toBe(leader);
    expect(complete.members.map((m) => [m.id, m.client_address]).sort()).toEqual(
      cluster.ids.map((id) => [id, cluster.node(id).client]).sort(),
    );
    expect(complete.members.find((m) => m.is_leader)?.id).toBe(leader);
  });

  test('without a quorum a node still tells its own Status but refuses the members list', async () => {
    const { leader, follower } = await roles(cluster);
    const lone = follower;
    for (const id of cluster.ids.filter((i) => i !== lone)) await cluster.kill(id);
    const s = await cluster.status(lone);
    expect(s.id).toBe(lone);
    await expect(list(lone)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(leader).not.toBe(lone);
  }, 30_000);
});
