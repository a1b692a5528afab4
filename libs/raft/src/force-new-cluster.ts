// Disaster recovery: a node that survived the permanent loss of a majority becomes a cluster of
// one, keeping its state, so that the operator can add members again (etcd's
// --force-new-cluster). Done to the stored log before the node starts: the core then finds a
// committed configuration naming this node alone, elects itself and serves.
import { decodeMembers, encodeMembers, type MemberConfig } from './membership.js';
import type { PersistentState, Storage } from './storage.js';
import { EntryType, type NodeId } from './types.js';

/** A configuration as stored: the entry's (or snapshot's) index, and its members. */
export interface StoredConfiguration {
  readonly index: number;
  readonly members: readonly MemberConfig[];
}

export interface ForcedCluster {
  /** False when the configuration in force already was this node alone: nothing was written. */
  readonly rewritten: boolean;
  /** Log index of the configuration entry that names this node alone. */
  readonly index: number;
  /** The members the configuration named before (empty if the log held none). */
  readonly previous: readonly MemberConfig[];
  /** The commit index stored before: entries after it, up to `index`, were committed here. */
  readonly commitBefore: number;
}

/**
 * Appends to the stored log a configuration entry naming only `self` as a voter, and stores a
 * commit index that covers it. Every entry of the survivor's log is kept and becomes committed,
 * those its leader had not yet committed too: an entry in a log was proposed by a client, and a
 * write that may have been acknowledged is better kept than lost (a client that retries it with
 * its request_id gets the recorded answer). The entry takes a term above any this node has seen,
 * so that no log of the old cluster holds an entry of that term at that index.
 *
 * The old members must never run again with their data: they would still believe in the old
 * configuration. A node restarted with its configuration already this node alone is left as it is.
 * `loaded`: what storage.load() returned, when the caller has read it already.
 */
export async function forceNewCluster(
  storage: Storage,
  self: { readonly id: NodeId; readonly address: string },
  loaded?: PersistentState,
): Promise<ForcedCluster> {
  const state = loaded ?? (await storage.load());
  const { hardState, snapshot, entries } = state;
  const config = storedConfiguration(state);
  const alone =
    config !== undefined &&
    config.members.length === 1 &&
    config.members[0]!.id === self.id &&
    !config.members[0]!.learner;
  if (alone) {
    return { rewritten: false, index: config.index, previous: [], commitBefore: hardState.commit };
  }
  const last = entries.at(-1)?.index ?? snapshot?.meta.index ?? 0;
  const term = hardState.term + 1;
  const index = last + 1;
  const members: MemberConfig[] = [{ id: self.id, learner: false, address: self.address }];
  await storage.save({
    hardState: { term, vote: '', commit: index },
    entries: [{ index, term, type: EntryType.Config, data: encodeMembers(members) }],
  });
  return {
    rewritten: true,
    index,
    previous: config?.members ?? [],
    commitBefore: hardState.commit,
  };
}

/**
 * The configuration in force in a stored log: its latest Config entry, else the snapshot's;
 * undefined when the log holds none (the bootstrap membership of --peers rules).
 */
export function storedConfiguration(state: PersistentState): StoredConfiguration | undefined {
  for (let i = state.entries.length - 1; i >= 0; i--) {
    const e = state.entries[i]!;
    if (e.type === EntryType.Config) return { index: e.index, members: decodeMembers(e.data) };
  }
  return state.snapshot?.meta.membership;
}
