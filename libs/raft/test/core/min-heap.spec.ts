import fc from 'fast-check';
import { MinHeap } from '../../src/min-heap.js';

describe('MinHeap', () => {
  it('pops what a sorted list would, under any mix of pushes and pops', () => {
    const op = fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constant('pop' as const));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const heap = new MinHeap<number>((a, b) => a < b);
        const model: number[] = [];
        for (const o of ops) {
          if (o === 'pop') {
            model.sort((a, b) => a - b);
            expect(heap.pop()).toBe(model.shift());
          } else {
            heap.push(o);
            model.push(o);
          }
          expect(heap.size).toBe(model.length);
          expect(heap.peek()).toBe(model.length === 0 ? undefined : Math.min(...model));
        }
      }),
    );
  });
});
