import {
  type Membership,
  type MembershipChange,
  MembershipChangeError,
  type RaftNodeStatus,
  Role,
} from '../../../libs/raft/src/index.js';
import { Code, DomainError } from '../src/domain/errors.js';
import { MembershipApi, type MembershipRaft } from '../src/domain/membership-api.js';
import type { LockStateView } from '../src/domain/state-view.js';

function setup(refuse?: MembershipChangeError) {
  let membership: Membership = {
    index: 7,
    members: [
      { id: 'n1', learner: false, address: 'h1:7001' },
      { id: 'n2', learner: false, address: 'h2:7001' },
      { id: 'n3', learner: true, address: 'h3:7001' },
    ],
  };
  const clients = new Map([
    ['n1', 'h1:8001'],
    ['n2', 'h2:8001'],
  ]);
  const changes: MembershipChange[] = [];
  const recorded: [string, string][] = [];
  const status = (): RaftNodeStatus => ({
    id: 'n1',
    role: Role.Leader,
    term: 2,
    vote: 'n1',
    leader: 'n1',
    commit: 9,
    applied: 9,
    lastIndex: 9,
    progress: {
      n2: { matchIndex: 9, nextIndex: 10, state: 'replicate' as never },
      n3: { matchIndex: 4, nextIndex: 5, state: 'probe' as never },
    },
    membership,
    voters: ['n1', 'n2'],
    learners: ['n3'],
  });
  const raft: MembershipRaft = {
    status,
    membership: () => membership,
    barrier: () => Promise.resolve(),
    changeMembership: (change) => {
      if (refuse) return Promise.reject(refuse);
      changes.push(change);
      if (change.type === 'addLearner' || change.type === 'addVoter') {
        membership = {
          index: membership.index + 1,
          members: [
            ...membership.members,
            { id: change.id, learner: change.type === 'addLearner', address: change.address },
          ],
        };
      }
      return Promise.resolve();
    },
    recordClientAddress: (id, address) => {
      recorded.push([id, address]);
      clients.set(id, address);
      return Promise.resolve();
    },
  };
  const state = { memberAddress: (id: string) => clients.get(id) } as unknown as LockStateView;
  const api = new MembershipApi({ id: 'n1', clientAddress: 'h1:8001' }, raft, state);
  return { api, changes, recorded };
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<Code> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof DomainError) return e.code;
    throw e;
  }
  throw new Error('did not fail');
}

describe('MembershipApi', () => {
  it('lists members with learners, addresses, progress and the config index', () => {
    const { api } = setup();
    expect(api.response()).toEqual({
      leader_id: 'n1',
      config_index: 7,
      members: [
        {
          id: 'n1',
          peer_address: 'h1:7001',
          client_address: 'h1:8001',
          match_index: 9,
          is_leader: true,
          learner: false,
        },
        {
          id: 'n2',
          peer_address: 'h2:7001',
          client_address: 'h2:8001',
          match_index: 9,
          is_leader: false,
          learner: false,
        },
        {
          id: 'n3',
          peer_address: 'h3:7001',
          client_address: '',
          match_index: 4,
          is_leader: false,
          learner: true,
        },
      ],
    });
  });

  it('adds a learner, then records its client address, and answers with the new membership', async () => {
    const { api, changes, recorded } = setup();
    const change = api.checkAdd({
      id: 'n4',
      peer_address: 'h4:7001',
      client_address: 'h4:8001',
      learner: true,
    });
    const res = await api.add(change);
    expect(changes).toEqual([{ type: 'addLearner', id: 'n4', address: 'h4:7001' }]);
    expect(recorded).toEqual([['n4', 'h4:8001']]);
    expect(res.config_index).toBe(8);
    expect(res.members.at(-1)).toMatchObject({
      id: 'n4',
      learner: true,
      client_address: 'h4:8001',
    });
  });

  it('refuses malformed requests naming the field', () => {
    const { api } = setup();
    const add = (r: object) => () =>
      api.checkAdd({ id: 'n4', peer_address: 'h:1', client_address: 'h:2', learner: false, ...r });
    expect(add({ id: '' })).toThrow(/^id: required/);
    expect(add({ id: 'bad id' })).toThrow(/^id: must be/);
    expect(add({ peer_address: 'nope' })).toThrow(/^peer_address: "nope" is not host:port/);
    expect(add({ client_address: 'h:0' })).toThrow(/^client_address: port 0/);
    expect(add({ client_address: 'h:1' })).toThrow(/^client_address: must differ/);
    expect(() => api.checkId(undefined)).toThrow(/^id: required/);
    expect(add({})()).toEqual({ type: 'addVoter', id: 'n4', address: 'h:1', clientAddress: 'h:2' });
  });

  it('refuses a client address that is already a member’s with ALREADY_EXISTS', async () => {
    const { api, changes } = setup();
    const change = api.checkAdd({
      id: 'n4',
      peer_address: 'h4:7001',
      client_address: 'h2:8001',
      learner: false,
    });
    expect(await codeOf(api.add(change))).toBe(Code.ALREADY_EXISTS);
    expect(changes).toEqual([]);
  });

  it.each([
    ['invalid', Code.INVALID_ARGUMENT],
    ['exists', Code.ALREADY_EXISTS],
    ['not-found', Code.NOT_FOUND],
    ['precondition', Code.FAILED_PRECONDITION],
  ] as const)('maps a refusal coded %s to gRPC code %i', async (code, grpc) => {
    const { api } = setup(new MembershipChangeError(code, 'no'));
    expect(await codeOf(api.change({ type: 'remove', id: 'n2' }))).toBe(grpc);
  });
});
