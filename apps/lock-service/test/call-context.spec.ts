// A gRPC call's context: its signal is made when first read, and aborts when the client cancels
// whether it was read before the cancel, after it, or the call arrived cancelled.
import { EventEmitter } from 'node:events';
import { Metadata } from '@grpc/grpc-js';
import type { CallContext } from '../src/domain/api.js';
import { type GrpcCall, withContext } from '../src/grpc/call-context.js';

class FakeCall extends EventEmitter implements GrpcCall {
  cancelled = false;
  readonly metadata = new Metadata();
  getDeadline(): number {
    return Infinity;
  }
  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled');
  }
}

/** Runs a handler that hands out its context and finishes when told. */
function open(call: FakeCall): { ctx: CallContext; finish: () => Promise<void> } {
  let ctx: CallContext | undefined;
  let finish!: () => void;
  const done = withContext(call, (c) => {
    ctx = c;
    return new Promise<void>((resolve) => (finish = resolve));
  });
  return {
    get ctx() {
      return ctx!;
    },
    finish: async () => {
      await Promise.resolve();
      finish();
      await done;
    },
  };
}

describe('withContext', () => {
  async function started(call: FakeCall) {
    const c = open(call);
    await Promise.resolve(); // the handler runs a microtask later
    await Promise.resolve();
    return c;
  }

  it('aborts a signal read before the client cancels', async () => {
    const call = new FakeCall();
    const c = await started(call);
    const signal = c.ctx.signal!;
    expect(signal.aborted).toBe(false);
    call.cancel();
    expect(signal.aborted).toBe(true);
    await c.finish();
  });

  it('hands out an aborted signal when it is first read after the cancel', async () => {
    const call = new FakeCall();
    const c = await started(call);
    call.cancel();
    expect(c.ctx.signal!.aborted).toBe(true);
    await c.finish();
  });

  it('hands out an aborted signal for a call that arrived cancelled', async () => {
    const call = new FakeCall();
    call.cancelled = true;
    const c = await started(call);
    expect(c.ctx.signal!.aborted).toBe(true);
    await c.finish();
  });

  it('leaves the signal alone once the handler is done: a closed stream is no cancel', async () => {
    const call = new FakeCall();
    const c = await started(call);
    const signal = c.ctx.signal!;
    await c.finish();
    expect(call.listenerCount('cancelled')).toBe(0);
    call.cancel();
    expect(signal.aborted).toBe(false);
  });
});
