// Keeps clusters apart: every peer call carries the sender's cluster id (and its peer address)
// as gRPC metadata, and a node refuses calls from another cluster, so that a node started on a
// data dir of another cluster, or pointed at the wrong peers, cannot disturb anyone.
import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../types.js';

export const CLUSTER_ID_HEADER = 'quorumlock-cluster-id';
export const PEER_ADDRESS_HEADER = 'quorumlock-peer-address';
const MISMATCH = 'cluster id mismatch';

/** What the transport knows of its cluster; see GrpcTransportOptions.cluster. */
export interface ClusterIdentity {
  /** This node's cluster id; '' while a node that joins does not know it yet. */
  id(): string;
  /** A node that joins adopts the id of the first cluster that reaches it. */
  adopt(id: string): void;
  /** A peer refused this node's call: the two belong to different clusters. */
  mismatch(peer: NodeId, detail: string): void;
}

export class ClusterGuard {
  constructor(
    private readonly cluster: ClusterIdentity | undefined,
    /** Updated from the configuration in force, which has this node's address. */
    public advertiseAddress: string | undefined,
  ) {}

  /** Metadata for an outgoing call. */
  metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    const id = this.cluster?.id() ?? '';
    if (id !== '') md.set(CLUSTER_ID_HEADER, id);
    if (this.advertiseAddress) md.set(PEER_ADDRESS_HEADER, this.advertiseAddress);
    return md;
  }

  /**
   * Checks an incoming call: null to accept it, else the error to answer with. Calls without
   * an id (from a node that does not know its cluster yet, or predates cluster ids) pass.
   */
  admit(md: grpc.Metadata): grpc.ServiceError | null {
    const theirs = md.get(CLUSTER_ID_HEADER)[0];
    if (this.cluster === undefined || typeof theirs !== 'string' || theirs === '') return null;
    const mine = this.cluster.id();
    if (mine === '') {
      this.cluster.adopt(theirs);
      return null;
    }
    if (mine === theirs) return null;
    const err = new Error(`${MISMATCH}: this node is in cluster ${mine}, the caller in ${theirs}`);
    return Object.assign(err, {
      code: grpc.status.FAILED_PRECONDITION,
      details: err.message,
      metadata: new grpc.Metadata(),
    });
  }

  /** The peer address a caller sent, if any. */
  callerAddress(md: grpc.Metadata): string | undefined {
    const a = md.get(PEER_ADDRESS_HEADER)[0];
    return typeof a === 'string' && a !== '' ? a : undefined;
  }

  /** Reports a call that a peer refused for belonging to another cluster; true if it was one. */
  refused(peer: NodeId, err: Error | null): boolean {
    const e = err as grpc.ServiceError | null;
    if (e?.code !== grpc.status.FAILED_PRECONDITION || !e.details.startsWith(MISMATCH))
      return false;
    this.cluster?.mismatch(peer, e.details);
    return true;
  }
}
