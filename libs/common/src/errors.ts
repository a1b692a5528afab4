/** What was thrown, as an Error: itself when it is one, else an Error that says what it was. */
export function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  let shown: string;
  try {
    shown = typeof thrown === 'string' ? thrown : JSON.stringify(thrown);
  } catch {
    shown = Object.prototype.toString.call(thrown); // a cycle, or a BigInt
  }
  return new Error(`non-error thrown: ${shown}`);
}
