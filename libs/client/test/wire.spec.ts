// The SDK's wire layer: grpc-js definitions made from the generated code, and the mapping of
// the generated messages to the public types. In process, no server.
import type { LeaderResponse } from '../src/gen/quorumlock/v1/election.js';
import { LockEvent_Type, LockMode } from '../src/gen/quorumlock/v1/lock.js';
import { API_DEFINITIONS } from '../src/proto.js';
import { toLeaderInfo, toLockEvent } from '../src/types.js';

/** A protobuf varint field: [field number << 3 | wire type 0, value as base-128 groups]. */
function varintField(field: number, value: bigint): Buffer {
  const out = [field << 3];
  while (value > 0x7fn) {
    out.push(Number(value & 0x7fn) | 0x80);
    value >>= 7n;
  }
  out.push(Number(value));
  return Buffer.from(out);
}

describe('the SDK wire layer', () => {
  test('methods are keyed by their proto names, with paths and streaming from the proto', () => {
    const lock = API_DEFINITIONS.LockService;
    expect(Object.keys(lock).sort()).toEqual(
      ['Acquire', 'Describe', 'KeepAlive', 'Release', 'Renew', 'Watch'].sort(),
    );
    expect(lock.Acquire).toMatchObject({
      path: '/quorumlock.v1.LockService/Acquire',
      originalName: 'acquire',
      requestStream: false,
      responseStream: false,
    });
    expect(lock.KeepAlive).toMatchObject({ requestStream: true, responseStream: true });
    expect(lock.Watch).toMatchObject({ requestStream: false, responseStream: true });
    expect(Object.keys(API_DEFINITIONS.ElectionService).sort()).toEqual(
      ['Campaign', 'Leader', 'Observe', 'Proclaim', 'Resign'].sort(),
    );
    expect(Object.keys(API_DEFINITIONS.ClusterService).sort()).toEqual(
      [
        'AddMember',
        'ListMembers',
        'PromoteMember',
        'RemoveMember',
        'Snapshot',
        'Status',
        'TransferLeadership',
      ].sort(),
    );
  });

  test('a partial request is sent with proto3 defaults for the fields it leaves out', () => {
    const acquire = API_DEFINITIONS.LockService.Acquire;
    const bytes = acquire.requestSerialize({ name: 'a', wait_ms: 5 });
    expect(acquire.requestDeserialize(bytes)).toEqual({
      name: 'a',
      owner: '',
      ttl_ms: 0,
      wait_ms: 5,
      request_id: '',
      lease_id: '',
      mode: 0,
      limit: 0,
      lock_delay_ms: 0,
    });
  });

  test('uint64 fields are exact bigints, also beyond 2^53', () => {
    const max = 2n ** 64n - 1n;
    const leader = API_DEFINITIONS.ElectionService.Leader;
    // LeaderResponse: has_leader = 1, fencing_token = 4.
    const reply = leader.responseDeserialize(
      Buffer.concat([varintField(1, 1n), varintField(4, max)]),
    );
    expect(toLeaderInfo('e', reply as LeaderResponse)).toEqual({
      election: 'e',
      hasLeader: true,
      candidate: '',
      value: '',
      fencingToken: max,
    });
  });

  test('watch events name their type; a type this SDK does not know reads as its number', () => {
    const event = { name: 'n', owner: 'o', fencing_token: 7n, mode: LockMode.LOCK_MODE_SHARED };
    expect(toLockEvent({ ...event, type: LockEvent_Type.EXPIRED })).toEqual({
      name: 'n',
      type: 'EXPIRED',
      owner: 'o',
      fencingToken: 7n,
      mode: 'shared',
    });
    expect(toLockEvent({ ...event, type: 9 as LockEvent_Type }).type).toBe(9);
  });
});
