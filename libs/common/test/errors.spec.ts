import { asError } from '../src/errors.js';

describe('asError', () => {
  it('keeps an Error as it is', () => {
    const e = new RangeError('x');
    expect(asError(e)).toBe(e);
  });

  it('wraps anything else in an Error that shows it', () => {
    expect(asError('disk gone').message).toBe('non-error thrown: disk gone');
    expect(asError({ code: 5 }).message).toBe('non-error thrown: {"code":5}');
    expect(asError(10n).message).toBe('non-error thrown: [object BigInt]');
  });
});
