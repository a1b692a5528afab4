import type { SmEvent } from './events.js';

/**
 * Who hears what the state machine applied, in this order for every event:
 * - leaseClock: re-anchors the lease clock first, so that everyone after reads the new time;
 * - waits: settles the calls waiting in a queue (granted, cancelled, lease lost);
 * - leadership: starts the leader's duties when this node's no-op of its term applies;
 * - streams: feeds Watch and Observe (and ends them when a snapshot replaced the state);
 * - metrics, log: observe only.
 */
export const STAGES = ['leaseClock', 'waits', 'leadership', 'streams', 'metrics', 'log'] as const;
export type Stage = (typeof STAGES)[number];

/** One subscriber per stage, registered by the composition root (or a test). */
export class EventBus {
  private readonly subscribers: (((e: SmEvent) => void) | undefined)[] = STAGES.map(
    () => undefined,
  );

  on(stage: Stage, fn: (e: SmEvent) => void): void {
    const i = STAGES.indexOf(stage);
    if (this.subscribers[i]) throw new Error(`event bus: stage ${stage} already has a subscriber`);
    this.subscribers[i] = fn;
  }

  readonly emit = (e: SmEvent): void => {
    for (const fn of this.subscribers) fn?.(e);
  };
}
