// Cluster membership as the API exposes it: ListMembers, AddMember, PromoteMember, RemoveMember.
// Validation here, the change itself in libs/raft (one single-server change at a time, through
// the log); the client addresses of members live in the replicated lock state.
import {
  learnersOf,
  type Membership,
  type MembershipChange,
  MembershipChangeError,
  type RaftNodeStatus,
} from '../../../../libs/raft/src/index.js';
import { parseAddress } from './address.js';
import type * as api from './api.js';
import { Code, DomainError, invalidArgument } from './errors.js';
import type { LockStateView } from './state-view.js';

/** What membership changes need of the Raft node and of the leader's duties. */
export interface MembershipRaft {
  status(): RaftNodeStatus;
  membership(): Membership;
  /** Read barrier (ReadIndex); rejects with a DomainError. */
  barrier(): Promise<void>;
  /** Proposes a change; resolves once committed and applied here. Rejects with raft's errors. */
  changeMembership(change: MembershipChange): Promise<void>;
  /** Writes a member's client address to the replicated state. */
  recordClientAddress(id: string, clientAddress: string): Promise<void>;
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class MembershipApi {
  constructor(
    private readonly self: { readonly id: string; readonly clientAddress: string },
    private readonly raft: MembershipRaft,
    private readonly state: LockStateView,
  ) {}

  /** The members as this node knows them: addresses from the log, progress if it leads. */
  members(): api.Member[] {
    const s = this.raft.status();
    const learners = new Set(learnersOf(s.membership));
    return s.membership.members.map((m) => ({
      id: m.id,
      peer_address: m.address,
      client_address:
        this.state.memberAddress(m.id) ?? (m.id === this.self.id ? this.self.clientAddress : ''),
      match_index: m.id === s.id ? s.lastIndex : (s.progress[m.id]?.matchIndex ?? 0),
      is_leader: m.id === s.leader,
      learner: learners.has(m.id),
    }));
  }

  /**
   * Refuses at once while a change is in progress: its new majority may be unable to answer the
   * read barrier (a voter added but down), which would only make this call wait for nothing.
   */
  private checkNoChangeInProgress(): void {
    const s = this.raft.status();
    if (s.membership.index > s.commit)
      throw new DomainError(
        Code.FAILED_PRECONDITION,
        `the change at index ${s.membership.index} is not committed yet (one change at a time)`,
      );
  }

  isMember(id: string): boolean {
    return this.raft.membership().members.some((m) => m.id === id);
  }

  /** Called on the leader, after its read barrier: linearizable. */
  response(): api.MembersResponse {
    const s = this.raft.status();
    return { members: this.members(), leader_id: s.leader, config_index: s.membership.index };
  }

  /** Checks an AddMember request before it is routed to the leader. */
  checkAdd(req: api.AddMemberRequest): MembershipChange & { clientAddress: string } {
    const id = checkId(req.id);
    const peer = checkAddress('peer_address', req.peer_address);
    const client = checkAddress('client_address', req.client_address);
    if (peer === client) throw invalidArgument('client_address', 'must differ from peer_address');
    const type = req.learner === true ? 'addLearner' : 'addVoter';
    return { type, id, address: peer, clientAddress: client };
  }

  checkId(id: unknown): string {
    return checkId(id);
  }

  async add(change: MembershipChange & { clientAddress: string }): Promise<api.MembersResponse> {
    this.checkNoChangeInProgress();
    await this.raft.barrier();
    const clash = this.raft
      .membership()
      .members.find((m) => this.state.memberAddress(m.id) === change.clientAddress);
    if (clash)
      throw new DomainError(
        Code.ALREADY_EXISTS,
        `client_address: ${change.clientAddress} is already member ${clash.id}'s`,
      );
    const { clientAddress, ...raftChange } = change;
    await this.change(raftChange);
    // The member's client address joins the replicated state right after; a member also
    // announces its own once it runs.
    await this.raft.recordClientAddress(change.id, clientAddress);
    return this.response();
  }

  async change(change: MembershipChange): Promise<api.MembersResponse> {
    this.checkNoChangeInProgress();
    await this.raft.barrier();
    try {
      await this.raft.changeMembership(change);
    } catch (e) {
      if (e instanceof MembershipChangeError) throw new DomainError(CODES[e.code], e.message);
      throw e;
    }
    return this.response();
  }
}

const CODES: Record<MembershipChangeError['code'], Code> = {
  invalid: Code.INVALID_ARGUMENT,
  exists: Code.ALREADY_EXISTS,
  'not-found': Code.NOT_FOUND,
  precondition: Code.FAILED_PRECONDITION,
};

function checkId(id: unknown): string {
  if (typeof id !== 'string' || id === '') throw invalidArgument('id', 'required');
  if (!NODE_ID.test(id) || id.length > 128)
    throw invalidArgument(
      'id',
      'must be letters, digits, _ . - (and start with a letter or digit)',
    );
  return id;
}

function checkAddress(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalidArgument(field, 'required');
  const parsed = parseAddress(value.trim());
  if (typeof parsed === 'string') throw invalidArgument(field, parsed);
  return value.trim();
}
