// What the client commands share: connection flags, durations, output, exit codes, errors.
import { readFileSync } from 'node:fs';
import {
  type Command,
  CommanderError,
  InvalidArgumentError as CommanderArgumentError,
  Option,
} from 'commander';
import {
  DeadlineExceededError,
  InvalidArgumentError,
  type LockKindOptions,
  LockLostError,
  LockNotAcquiredError,
  NotFoundError,
  QuorumLockClient,
  QuorumLockError,
  type TlsOptions,
  UnavailableError,
} from '@quorumlock/client';
import { EXIT_USAGE, usageError } from './common.js';
import { MAX_LIMIT, MAX_LOCK_DELAY_MS } from '../../domain/lock-kinds.js';

/**
 * Exit codes of the client commands (`run` exits with its command's code once that started).
 * 0 ok; 1 not acquired, not held, no leader, or lost; 2 usage or invalid argument; 3 lease not
 * found; 4 cluster unavailable or timed out; 5 anything else.
 */
export const EXIT = {
  OK: 0,
  NOT_HELD: 1,
  USAGE: EXIT_USAGE,
  NOT_FOUND: 3,
  UNAVAILABLE: 4,
  OTHER: 5,
} as const;

export const DEFAULT_ENDPOINTS = '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "15s", "500ms", "2m", "1h", "1m30s", "1.5s" or "0" as milliseconds. */
export function parseDuration(value: string): number {
  const v = value.trim();
  if (v === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(v); m; m = re.exec(v)) {
    // Both groups are mandatory, and the second matches only the units above.
    total += Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
    end = re.lastIndex;
  }
  if (v === '' || end !== v.length)
    throw new CommanderArgumentError('must be a duration like 500ms, 15s, 2m or 1h');
  return Math.round(total);
}

export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Number((ms / 1000).toFixed(3))}s`;
  return `${ms}ms`;
}

const duration = (flags: string, description: string, dflt?: string) => {
  const o = new Option(flags, description).argParser(parseDuration);
  return dflt === undefined ? o : o.default(parseDuration(dflt), dflt);
};

export interface ClientFlags {
  endpoints: string;
  json?: boolean;
  timeout: number;
  cacert?: string;
  cert?: string;
  key?: string;
  token?: string;
}

/** --endpoints, --json, --timeout, the TLS files and --token, on every client command. */
export function clientCommand(program: Command, name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .addOption(
      new Option('--endpoints <list>', 'comma-separated host:port of the nodes')
        .env('QUORUMLOCK_ENDPOINTS')
        .default(DEFAULT_ENDPOINTS),
    )
    .option('--json', 'machine-readable output (JSON; one object per line for streams)')
    .addOption(duration('--timeout <duration>', 'budget of each call, retries included', '10s'))
    .addOption(
      new Option('--cacert <file>', 'TLS: PEM CA the servers are verified against').env(
        'QUORUMLOCK_CACERT',
      ),
    )
    .addOption(
      new Option('--cert <file>', 'mutual TLS: PEM client certificate (with --key)').env(
        'QUORUMLOCK_CERT',
      ),
    )
    .addOption(
      new Option('--key <file>', 'mutual TLS: PEM private key of --cert').env('QUORUMLOCK_KEY'),
    )
    .addOption(
      new Option(
        '--token <token>',
        'bearer token for a cluster run with --auth-config (prefer the variable: flags show in ps)',
      ).env('QUORUMLOCK_TOKEN'),
    );
}

/**
 * The SDK's TLS option from the flags: TLS once any file is given (with only --cert and
 * --key, the servers are verified against the system's CAs); plaintext with none.
 */
function tlsFrom(cmd: Command, flags: ClientFlags): TlsOptions | undefined {
  const { cacert, cert, key } = flags;
  if (cacert === undefined && cert === undefined && key === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined))
    usageError(cmd, cert === undefined ? '--key needs --cert' : '--cert needs --key');
  const read = (flag: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      return usageError(cmd, `${flag}: cannot read ${path}: ${(e as Error).message}`);
    }
  };
  const ca = read('--cacert', cacert);
  const pair = { cert: read('--cert', cert), key: read('--key', key) };
  return { ...(ca ? { ca } : {}), ...(pair.cert && pair.key ? pair : {}) };
}

export const ttlOption = () =>
  duration('--ttl <duration>', 'lease TTL (the server raises it to its minimum)', '15s');
export const waitOption = (dflt: string) =>
  duration('--wait <duration>', 'how long to queue for the lock (0: try once)', dflt);
export const ownerOption = () => new Option('--owner <name>', 'owner name (default host:pid)');

/** The flags of a lock's kind, as acquire and run take them. */
export interface LockKindFlags {
  shared?: boolean;
  limit?: number;
  lockDelay?: number;
}

/** --shared, --limit N and --lock-delay DURATION. */
export function addLockKindOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--shared', 'take a SHARED (read) lock: held with other SHARED holders'))
    .addOption(
      new Option(
        '--limit <n>',
        `hold a semaphore of n EXCLUSIVE holders at once (at most ${MAX_LIMIT}; 0 or 1: a mutex)`,
      ).argParser((v: string) => {
        if (!/^\d+$/.test(v.trim()))
          throw new CommanderArgumentError('must be a non-negative integer');
        const n = Number(v);
        if (n > MAX_LIMIT) throw new CommanderArgumentError(`must be at most ${MAX_LIMIT}`);
        return n;
      }),
    )
    .addOption(
      new Option(
        '--lock-delay <duration>',
        `if the lease expires while holding, nobody gets the lock for this long (at most ${formatDuration(MAX_LOCK_DELAY_MS)})`,
      ).argParser((v: string) => {
        const ms = parseDuration(v);
        if (ms > MAX_LOCK_DELAY_MS)
          throw new CommanderArgumentError(`must be at most ${formatDuration(MAX_LOCK_DELAY_MS)}`);
        return ms;
      }),
    );
}

/** The SDK's lock kind from the flags; --limit with --shared is a usage error. */
export function lockKindFrom(cmd: Command, f: LockKindFlags): LockKindOptions {
  if (f.shared && f.limit !== undefined && f.limit !== 0)
    usageError(cmd, 'error: --limit applies to EXCLUSIVE holders: not with --shared');
  return {
    ...(f.shared ? { mode: 'shared' as const } : {}),
    ...(f.limit !== undefined ? { limit: f.limit } : {}),
    ...(f.lockDelay !== undefined ? { lockDelayMs: f.lockDelay } : {}),
  };
}

const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

export function makeClient(cmd: Command, flags: ClientFlags): QuorumLockClient {
  const endpoints = flags.endpoints
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const bad = endpoints.find((e) => !ADDRESS.test(e));
  if (endpoints.length === 0 || bad !== undefined)
    usageError(
      cmd,
      `--endpoints: ${bad === undefined ? 'none given' : `"${bad}" is not host:port`}`,
    );
  const tls = tlsFrom(cmd, flags);
  if (flags.token !== undefined && !/^[\x21-\x7e]+$/.test(flags.token))
    usageError(cmd, '--token: must be printable ASCII without spaces');
  return new QuorumLockClient({
    endpoints,
    callTimeoutMs: flags.timeout,
    ...(tls === undefined ? {} : { tls }),
    ...(flags.token ? { token: flags.token } : {}),
  });
}

/** JSON with bigints as plain numbers (fencing tokens are uint64; JSON numbers have no limit). */
export function toJson(value: unknown): string {
  const marked = JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? `\u0000${v}\u0000` : v,
  );
  return marked.replace(/"\\u0000(\d+)\\u0000"/g, '$1');
}

export const out = (line: string) => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`quorumlock: ${line}\n`);

/** A failure as an exit code, with its message on stderr (JSON there too under --json). */
export function report(cmd: Command, e: unknown, json: boolean | undefined): number {
  const code =
    e instanceof LockNotAcquiredError || e instanceof LockLostError
      ? EXIT.NOT_HELD
      : e instanceof InvalidArgumentError
        ? EXIT.USAGE
        : e instanceof NotFoundError
          ? EXIT.NOT_FOUND
          : e instanceof UnavailableError || e instanceof DeadlineExceededError
            ? EXIT.UNAVAILABLE
            : EXIT.OTHER;
  const message = e instanceof Error ? e.message : String(e);
  if (code === EXIT.USAGE && !json) usageError(cmd, `error: ${message}`);
  if (json) {
    const name = e instanceof QuorumLockError ? e.codeName : 'UNKNOWN';
    process.stderr.write(`${toJson({ error: { code: name, exitCode: code, message } })}\n`);
  } else if (code === EXIT.UNAVAILABLE) {
    err(`cluster unavailable (${endpointsHint(cmd)}): ${message}`);
  } else {
    err(message);
  }
  return code;
}

function endpointsHint(cmd: Command): string {
  return `endpoints ${cmd.opts<Partial<ClientFlags>>().endpoints ?? DEFAULT_ENDPOINTS}`;
}

/**
 * Runs a client command: builds the client, maps failures to exit codes, closes the client
 * (releasing nothing the command chose to keep), and exits explicitly so that no stray handle
 * keeps a finished command alive.
 */
export function action<A extends unknown[]>(
  body: (client: QuorumLockClient, cmd: Command, ...args: A) => Promise<number>,
  closeOptions: { release: boolean } = { release: true },
) {
  return async (...raw: unknown[]): Promise<void> => {
    const cmd = raw[raw.length - 1] as Command;
    const flags = cmd.opts<ClientFlags>();
    const client = makeClient(cmd, flags);
    let code: number = EXIT.OTHER;
    let usage: CommanderError | undefined;
    try {
      code = await body(client, cmd, ...(raw.slice(0, -2) as A));
    } catch (e) {
      try {
        if (e instanceof CommanderError) throw e;
        code = report(cmd, e, flags.json);
      } catch (u) {
        if (!(u instanceof CommanderError)) throw u;
        usage = u; // a usage error: commander prints it with the usage, after the client closes
      }
    }
    await client.close(closeOptions);
    if (usage !== undefined) throw usage;
    process.exit(code);
  };
}

/** A spinner on stderr while waiting, only when both outputs are terminals. */
export function spinner(text: string): () => void {
  if (!process.stdout.isTTY || !process.stderr.isTTY) return () => undefined;
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  const started = performance.now();
  let i = 0;
  const draw = () => {
    const s = Math.floor((performance.now() - started) / 1000);
    process.stderr.write(`\r${frames[i++ % frames.length]} ${text} (${s}s)\x1b[K`);
  };
  const timer = setInterval(draw, 80);
  timer.unref();
  draw();
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  };
}

/** Resolves on the first SIGINT or SIGTERM (for commands that run until stopped). */
export function untilSignal(): { promise: Promise<NodeJS.Signals>; dispose(): void } {
  let dispose = () => undefined as void;
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    const on = (s: NodeJS.Signals) => resolve(s);
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
    dispose = () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    };
  });
  return { promise, dispose };
}
