// Free TCP ports for servers that tests and benchmarks start on 127.0.0.1, picked below the
// kernel's ephemeral range. A port the OS handed out with listen(0) and that was released again
// can be taken by any outgoing connection or listen(0) on the machine (a proxy, another test)
// while its server is down after a kill -9; the server then fails to restart with EADDRINUSE, a
// crash it did not cause (seen once in a chaos run while other tests ran on the machine). Ports
// below the ephemeral range are only ever taken by an explicit bind.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;
/** Handed out by this process: a few per node of each cluster it starts. */
const given = new Set<number>();

/** The kernel's ephemeral port range (Linux), or its default. */
export function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (lo !== undefined && hi !== undefined && lo > 0 && hi >= lo) return [lo, hi];
  } catch {
    // Not Linux: macOS and the BSDs use 49152-65535, above this default's start too.
  }
  return [32768, 60999];
}

function canListen(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once('error', () => ok(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => ok(true)));
  });
}

/** A free port below the ephemeral range that this process has not handed out before. */
export async function freePort(): Promise<number> {
  const top = ephemeralRange()[0];
  if (top <= LOWEST + 1000) throw new Error(`ephemeral ports start at ${top}: too low`);
  for (let i = 0; i < 1000; i++) {
    const port = LOWEST + Math.floor(Math.random() * (top - LOWEST));
    if (given.has(port) || !(await canListen(port))) continue;
    given.add(port);
    return port;
  }
  throw new Error(`no free port in ${LOWEST}-${top - 1}`);
}
