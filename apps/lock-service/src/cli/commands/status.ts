// quorumlock status: every node's view of the cluster, as a table.
import type { Command } from 'commander';
import {
  type MemberStatus,
  type NodeStatus,
  PermissionDeniedError,
  type QuorumLockClient,
  UnauthenticatedError,
  UnavailableError,
} from '@quorumlock/client';
import { action, type ClientFlags, clientCommand, EXIT, out, toJson } from './client-common.js';
import { ignoreRejection } from '../../../../../libs/common/src/ignore.js';

/** A node more entries behind the leader's commit than this is reported unhealthy. */
const MAX_HEALTHY_LAG = 1000n;
// Nodes are asked in parallel: this bounds the wait for one that hangs, not the sum.
const NODE_TIMEOUT_MS = 5000;

export interface StatusRow {
  id: string;
  address: string;
  role: string;
  term: bigint | null;
  commit: bigint | null;
  applied: bigint | null;
  /** Entries between the leader's commit index and this node's applied index. */
  lag: bigint | null;
  healthy: boolean;
  leader: string;
  /** A non-voting member (shown as ROLE "learner" in the table). */
  learner: boolean;
  error?: string;
}

/**
 * The members from the leader (linearizable) when it answers, then every endpoint and member
 * address, then any member address a node's own Status reveals that was not queried yet.
 */
async function collect(client: QuorumLockClient, timeoutMs: number) {
  const answers = new Map<string, NodeStatus | Error>();
  const listed = await ignoreRejection(
    client.members({ timeoutMs }),
    'without a leader, the listed endpoints are asked one by one',
  );
  const addresses = listed?.members.map((m) => m.clientAddress).filter((a) => a !== '') ?? [];
  let pending = [...new Set([...client.endpoints, ...addresses])];
  while (pending.length > 0) {
    const got = await Promise.all(
      pending.map(async (a) => {
        const s = await client.statusOf(a, { timeoutMs }).catch((e: Error) => e);
        answers.set(a, s);
        return s;
      }),
    );
    pending = got
      .flatMap((s) => (s instanceof Error ? [] : s.members.map((m) => m.clientAddress)))
      .filter((a) => a !== '' && !answers.has(a));
    pending = [...new Set(pending)];
  }
  return { answers, members: listed?.members };
}

/** A node that answered, but refused this caller (--auth-config): not a node that is down. */
const refused = (e: Error) =>
  e instanceof UnauthenticatedError || e instanceof PermissionDeniedError;

export function statusRows(
  answers: Map<string, NodeStatus | Error>,
  listed?: readonly MemberStatus[],
): StatusRow[] {
  const ok = [...answers.values()].filter((s): s is NodeStatus => !(s instanceof Error));
  const members = listed ?? ok.flatMap((s) => s.members);
  // The leader's own report of the highest term is the reference for lag.
  const leader = ok
    .filter((s) => s.role === 'leader')
    .sort((a, b) => (a.term === b.term ? 0 : a.term > b.term ? -1 : 1))[0];
  const commit =
    leader?.commitIndex ?? ok.reduce((m, s) => (s.commitIndex > m ? s.commitIndex : m), 0n);
  const rows: StatusRow[] = [];
  for (const [address, s] of answers) {
    if (s instanceof Error) {
      rows.push({
        id: '',
        address,
        role: refused(s) ? 'refused' : 'unreachable',
        term: null,
        commit: null,
        applied: null,
        lag: null,
        healthy: false,
        leader: '',
        learner: false,
        error: s.message,
      });
      continue;
    }
    const lag = commit > s.appliedIndex ? commit - s.appliedIndex : 0n;
    const healthy =
      s.leaderId !== '' && (!leader || s.leaderId === leader.id) && lag <= MAX_HEALTHY_LAG;
    rows.push({
      id: s.id,
      address,
      role: s.role,
      term: s.term,
      commit: s.commitIndex,
      applied: s.appliedIndex,
      lag,
      healthy,
      leader: s.leaderId,
      learner: false,
    });
  }
  // Members no endpoint answered for (their client address is unknown or down).
  const known = new Set(rows.map((r) => r.id));
  for (const m of members) {
    if (known.has(m.id)) continue;
    known.add(m.id);
    rows.push({
      id: m.id,
      address: m.clientAddress,
      role: 'unknown',
      term: null,
      commit: null,
      applied: null,
      lag: null,
      healthy: false,
      leader: '',
      learner: false,
      error: 'did not answer (client address unknown or not in --endpoints)',
    });
  }
  // Unreachable endpoints get their id from the members list when a node advertised it.
  for (const r of rows.filter((x) => x.id === '')) {
    r.id = members.find((m) => m.clientAddress === r.address)?.id ?? '?';
  }
  for (const r of rows) r.learner = members.find((m) => m.id === r.id)?.learner ?? false;
  return rows.sort((a, b) => a.id.localeCompare(b.id) || a.address.localeCompare(b.address));
}

function table(rows: StatusRow[]): string {
  const head = ['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'HEALTHY'];
  const cell = (v: bigint | null) => (v === null ? '-' : String(v));
  const body = rows.map((r) => [
    r.id,
    r.address || '-',
    r.learner && r.role === 'follower' ? 'learner' : r.role,
    cell(r.term),
    cell(r.commit),
    cell(r.applied),
    cell(r.lag),
    r.healthy ? 'yes' : 'no',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]?.length ?? 0)));
  return [head, ...body]
    .map((cols) =>
      cols
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerStatus(program: Command): void {
  clientCommand(
    program,
    'status',
    'query Status on every node and print id, address, role, term, commit, applied, lag, healthy',
  ).action(
    action(async (client: QuorumLockClient, cmd: Command) => {
      const f = cmd.opts<ClientFlags>();
      const { answers, members } = await collect(client, Math.min(f.timeout, NODE_TIMEOUT_MS));
      const rows = statusRows(answers, members);
      if (f.json) out(toJson(rows));
      else out(table(rows));
      if (!f.json)
        for (const r of rows.filter((x) => x.error))
          process.stderr.write(`${r.id} ${r.address}: ${r.error}\n`);
      if (rows.some((r) => r.term !== null)) return EXIT.OK;
      const refusal = [...answers.values()].find((a) => a instanceof Error && refused(a));
      throw refusal ?? new UnavailableError('no node answered');
    }),
  );
}
