// The polling helper every process test waits with: it must not turn a failed check into a pass.
import { GiveUp, waitFor } from '../src/wait.js';

describe('waitFor', () => {
  test('returns the first truthy value of the condition', async () => {
    let polls = 0;
    await expect(waitFor('the third poll', () => ++polls >= 3 && polls)).resolves.toBe(3);
  });

  test('retries a condition that throws, and names the last error when it times out', async () => {
    let polls = 0;
    const failed = waitFor(
      'a node that never answers',
      () => {
        throw new Error(`UNAVAILABLE ${++polls}`);
      },
      200,
    );
    await expect(failed).rejects.toThrow(
      /^timed out after 200 ms waiting for a node that never answers: Error: UNAVAILABLE \d+$/,
    );
    expect(polls).toBeGreaterThan(1);
  });

  test('an expect() that fails inside the condition fails the wait at once, though a later poll would pass', async () => {
    let polls = 0;
    const failed = waitFor('a check that fails once', () => {
      polls++;
      expect(polls).toBeGreaterThan(1);
      return true;
    });
    await expect(failed).rejects.toThrow('expect(received).toBeGreaterThan(expected)');
    expect(polls).toBe(1);
  });

  test('a GiveUp thrown by the condition fails the wait at once', async () => {
    let polls = 0;
    const failed = waitFor('a process that has exited', () => {
      polls++;
      throw new GiveUp('n1 exited with code 1');
    });
    await expect(failed).rejects.toThrow(new GiveUp('n1 exited with code 1'));
    expect(polls).toBe(1);
  });
});
