/**
 * Lease ids as our leaders make them, 16 lowercase hex digits (runtime.ts), as two 32-bit
 * words: how the lease and retry tables keep them without a string each.
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The id kept as two words at words[at], words[at + 1]. */
export function hexId(words: Uint32Array, at: number): string {
  return hex8(words[at]!) + hex8(words[at + 1]!);
}

function hex8(w: number): string {
  return HEX[w >>> 24]! + HEX[(w >>> 16) & 255]! + HEX[(w >>> 8) & 255]! + HEX[w & 255]!;
}

/** Whether id is 16 lowercase hex digits; if so, its two words go into out[at], out[at + 1]. */
export function hexWords(id: string, out: Uint32Array, at = 0): boolean {
  if (id.length !== 16) return false;
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 16; i++) {
    const c = id.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return false;
    if (i < 8) hi = ((hi << 4) | d) >>> 0;
    else lo = ((lo << 4) | d) >>> 0;
  }
  out[at] = hi;
  out[at + 1] = lo;
  return true;
}
