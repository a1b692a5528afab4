import { ignoreRejection, type IgnoreLogger } from '../src/ignore.js';

function recorder(): IgnoreLogger & { lines: { obj: object; msg: string }[] } {
  const lines: { obj: object; msg: string }[] = [];
  return { lines, debug: (obj, msg) => lines.push({ obj, msg }) };
}

describe('ignoreRejection', () => {
  it('passes a value through and logs nothing', async () => {
    const log = recorder();
    await expect(ignoreRejection(Promise.resolve(7), 'unused', log)).resolves.toBe(7);
    expect(log.lines).toEqual([]);
  });

  it('settles a rejection as undefined and logs it with the reason', async () => {
    const log = recorder();
    const err = new Error('peer gone');
    await expect(ignoreRejection(Promise.reject(err), 'best-effort release', log)).resolves.toBe(
      undefined,
    );
    expect(log.lines).toEqual([{ obj: { err }, msg: 'ignored: best-effort release' }]);
  });

  it('logs through NODE_DEBUG when given no logger, and still settles', async () => {
    await expect(ignoreRejection(Promise.reject(new Error('x')), 'no logger')).resolves.toBe(
      undefined,
    );
  });
});
