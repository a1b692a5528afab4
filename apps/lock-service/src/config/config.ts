// Server configuration: CLI flags over QUORUMLOCK_* environment variables, validated once at
// start-up so that a bad deployment fails loudly, naming both spellings the operator may have used.
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { parseAddress, splitHostPort } from '../domain/address.js';
import { defaultLimits, type LockNodeOptions } from '../domain/options.js';
import { tlsProblems } from './tls-rules.js';

export { parseAddress, splitHostPort } from '../domain/address.js';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const POSITIVE_INT = /^[1-9]\d*$/;

const required = (issue: { input: unknown }) =>
  issue.input === undefined ? 'required' : undefined;

const address = z
  .string({ error: required })
  .trim()
  .check((ctx) => {
    const parsed = parseAddress(ctx.value);
    if (typeof parsed === 'string')
      ctx.issues.push({ code: 'custom', message: parsed, input: ctx.value });
  });

const positiveInt = (fallback: number) =>
  z
    .string()
    .trim()
    .regex(POSITIVE_INT, { error: 'must be a positive integer' })
    .transform(Number)
    .refine(Number.isSafeInteger, { error: 'must be a positive integer' })
    .default(fallback);

/** A switch: the bare flag gives true; a variable says true or false (or 1/0, yes/no). */
const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  '1': true,
  yes: true,
  false: false,
  '0': false,
  no: false,
};
const onOff = z
  .string()
  .trim()
  .transform((value, ctx) => {
    const parsed = BOOLEAN_WORDS[value.toLowerCase()];
    if (parsed !== undefined) return parsed;
    ctx.issues.push({ code: 'custom', message: 'must be true or false', input: value });
    return z.NEVER;
  })
  .default(false);

const file = z.string().trim().min(1, { error: 'must not be empty' }).optional();

export const peersSchema = z
  .string({ error: required })
  .trim()
  .transform((value, ctx) => {
    const fail = (message: string) => {
      ctx.issues.push({ code: 'custom', message, input: value });
      return z.NEVER;
    };
    const result: Record<string, string> = {};
    const seenAddresses = new Set<string>();
    if (value === '') return fail('must list at least one member as id=host:port');
    for (const raw of value.split(',')) {
      const entry = raw.trim();
      const eq = entry.indexOf('=');
      if (eq < 0) return fail(`"${entry}" is not id=host:port`);
      const id = entry.slice(0, eq).trim();
      const addr = entry.slice(eq + 1).trim();
      if (!NODE_ID.test(id)) return fail(`"${id}" is not a valid node id (letters, digits, _ . -)`);
      if (Object.hasOwn(result, id)) return fail(`node id "${id}" is listed twice`);
      const parsed = parseAddress(addr);
      if (typeof parsed === 'string') return fail(`${id}: ${parsed}`);
      if (seenAddresses.has(addr)) return fail(`address ${addr} is listed twice`);
      seenAddresses.add(addr);
      result[id] = addr;
    }
    return result;
  });

/**
 * Raw input is what flags and environment variables give: strings, or undefined when unset.
 * Cross-field rules run only once every field parsed: zod would otherwise hand them half-parsed
 * values, and each error should name the one setting to fix.
 */
export const serverConfigSchema = z
  .object({
    id: z.string({ error: required }).trim().regex(NODE_ID, {
      error: 'must be letters, digits, _ . - (and start with a letter or digit)',
    }),
    clientAddress: address,
    clientListenAddress: address.optional(),
    peerAddress: address,
    peers: peersSchema,
    dataDir: z
      .string({ error: required })
      .trim()
      .min(1, { error: 'must not be empty' })
      .transform((dir) => resolve(dir)),
    httpAddress: address,
    electionTimeoutMinMs: positiveInt(150),
    electionTimeoutMaxMs: positiveInt(300),
    heartbeatIntervalMs: positiveInt(50),
    checkpointIntervalMs: positiveInt(250).refine((v) => v <= 1000, {
      error: 'must be at most 1000: a lost lease expires within 1 s of its bound, see the README',
    }),
    grpcKeepaliveIntervalMs: positiveInt(10_000),
    grpcKeepaliveTimeoutMs: positiveInt(10_000),
    snapshotEntries: positiveInt(10_000),
    maxLeases: positiveInt(defaultLimits.maxLeases),
    maxWaitersPerLock: positiveInt(defaultLimits.maxWaitersPerLock),
    maxLocksPerLease: positiveInt(defaultLimits.maxLocksPerLease),
    maxElections: positiveInt(defaultLimits.maxElections),
    maxStreams: positiveInt(defaultLimits.maxStreams),
    maxStreamBufferBytes: positiveInt(defaultLimits.maxStreamBufferBytes),
    logFormat: z
      .enum(LOG_FORMATS, { error: `must be one of ${LOG_FORMATS.join(', ')}` })
      .default('json'),
    logLevel: z
      .enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })
      .default('info'),
    certFile: file,
    keyFile: file,
    trustedCaFile: file,
    clientCertAuth: onOff,
    peerCertFile: file,
    peerKeyFile: file,
    peerTrustedCaFile: file,
    peerClientCertAuth: onOff,
    authConfig: z
      .string()
      .trim()
      .min(1, { error: 'must not be empty' })
      .transform((file) => resolve(file))
      .optional(),
    insecure: onOff,
    join: onOff,
    forceNewCluster: onOff,
  })
  .check((ctx) => {
    if (ctx.issues.length > 0) return;
    const cfg = ctx.value;
    const issue = (key: ConfigKey, message: string) =>
      ctx.issues.push({ code: 'custom', path: [key], message, input: cfg[key] });
    const own = cfg.peers[cfg.id];
    if (cfg.join && cfg.forceNewCluster)
      issue(
        'forceNewCluster',
        `cannot be used with ${describe('join')}: a forced cluster starts from its own data`,
      );
    // A node that joins lists existing members to reach; it need not be among them.
    if (own === undefined && !cfg.join) {
      issue(
        'id',
        `"${cfg.id}" is not a member of ${describe('peers')}: ${Object.keys(cfg.peers).join(', ')}`,
      );
    } else if (own !== undefined) {
      const ownPort = portOf(own);
      if (portOf(cfg.peerAddress) !== ownPort) {
        issue(
          'peerAddress',
          `port must be ${ownPort}, the port of ${cfg.id} in ${describe('peers')} (${own})`,
        );
      }
    }
    // What is bound, not what is advertised: the client listener may differ from its address.
    const client = cfg.clientListenAddress === undefined ? 'clientAddress' : 'clientListenAddress';
    const listeners = [client, 'peerAddress', 'httpAddress'] as const;
    for (const [i, a] of listeners.entries()) {
      for (const b of listeners.slice(i + 1)) {
        if (portOf(cfg[a]!) === portOf(cfg[b]!))
          issue(b, `must not use the same port as ${describe(a)}`);
      }
    }
    if (cfg.electionTimeoutMinMs >= cfg.electionTimeoutMaxMs) {
      issue(
        'electionTimeoutMinMs',
        `${cfg.electionTimeoutMinMs} must be below ${describe('electionTimeoutMaxMs')} (${cfg.electionTimeoutMaxMs})`,
      );
    }
    if (cfg.heartbeatIntervalMs >= cfg.electionTimeoutMinMs) {
      issue(
        'heartbeatIntervalMs',
        `${cfg.heartbeatIntervalMs} must be below ${describe('electionTimeoutMinMs')} (${cfg.electionTimeoutMinMs})`,
      );
    }
    const hostOf = (address: string) => splitHostPort(address)?.host ?? '';
    for (const problem of tlsProblems(cfg, { describe, hostOf })) {
      issue(problem.key, problem.message);
    }
  });

export type ServerConfigInput = z.input<typeof serverConfigSchema>;
export type ServerConfig = z.output<typeof serverConfigSchema>;
export type ConfigKey = keyof ServerConfigInput;

export interface ConfigOption {
  readonly key: ConfigKey;
  /** Long flag, e.g. --client-address. */
  readonly flag: string;
  readonly env: string;
  /** Placeholder shown in --help; none for a switch (a flag without a value). */
  readonly value?: string;
  readonly description: string;
  readonly default?: string;
  /** Older spellings still read: the flag (and its commander key) and the variable. */
  readonly alias?: { readonly key: string; readonly flag: string; readonly env: string };
}

const option = (
  key: ConfigKey,
  value: string | undefined,
  description: string,
  dflt?: string | number,
): ConfigOption => {
  const kebab = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return {
    key,
    flag: `--${kebab}`,
    env: `QUORUMLOCK_${kebab.replace(/-/g, '_').toUpperCase()}`,
    ...(value === undefined ? {} : { value }),
    description,
    ...(dflt === undefined ? {} : { default: String(dflt) }),
  };
};

/** Every setting, in --help order; the CLI builds its flags and deploy checks their env from it. */
export const CONFIG_OPTIONS: readonly ConfigOption[] = [
  option('id', 'id', 'this node, one of the ids in --peers'),
  option('clientAddress', 'host:port', 'gRPC API address, advertised to clients'),
  option(
    'clientListenAddress',
    'host:port',
    'gRPC API bind address when it differs from --client-address (e.g. 0.0.0.0:7001 in a container)',
  ),
  option(
    'peerAddress',
    'host:port',
    'Raft listen address; its port must match this node in --peers',
  ),
  option('peers', 'id=host:port,...', 'every member and its Raft address, this node included'),
  option('dataDir', 'dir', 'Raft log and snapshots'),
  {
    ...option(
      'httpAddress',
      'host:port',
      'HTTP address of the JSON-RPC gateway (/rpc, /ws), the live view (/), /healthz, /readyz and /metrics',
    ),
    alias: {
      key: 'metricsAddress',
      flag: '--metrics-address',
      env: 'QUORUMLOCK_METRICS_ADDRESS',
    },
  },
  option('electionTimeoutMinMs', 'ms', 'lower bound of the randomized election timeout', 150),
  option('electionTimeoutMaxMs', 'ms', 'upper bound of the randomized election timeout', 300),
  option('heartbeatIntervalMs', 'ms', 'leader heartbeat, below the election timeout', 50),
  option(
    'checkpointIntervalMs',
    'ms',
    'longest a leader with leases goes without writing its lease clock to the log (at most 1000)',
    250,
  ),
  option(
    'grpcKeepaliveIntervalMs',
    'ms',
    'idle time after which the server pings a client connection (HTTP/2 PING)',
    10_000,
  ),
  option(
    'grpcKeepaliveTimeoutMs',
    'ms',
    'a client connection that does not answer a ping within this is closed, ending its calls',
    10_000,
  ),
  option(
    'snapshotEntries',
    'n',
    'least log entries between snapshots (more once the state holds over 8x as many records)',
    10_000,
  ),
  option('maxLeases', 'n', 'leases alive at once', defaultLimits.maxLeases),
  option(
    'maxWaitersPerLock',
    'n',
    'waiters queued on one lock or election',
    defaultLimits.maxWaitersPerLock,
  ),
  option(
    'maxLocksPerLease',
    'n',
    'locks and elections one lease may hold or wait for',
    defaultLimits.maxLocksPerLease,
  ),
  option('maxElections', 'n', 'elections alive at once', defaultLimits.maxElections),
  option(
    'maxStreams',
    'n',
    'open Watch/Observe/KeepAlive streams on this node',
    defaultLimits.maxStreams,
  ),
  option(
    'maxStreamBufferBytes',
    'n',
    'bytes all Watch/Observe streams of this node may hold for slow consumers',
    defaultLimits.maxStreamBufferBytes,
  ),
  option('logFormat', LOG_FORMATS.join('|'), 'log output', 'json'),
  option('logLevel', LOG_LEVELS.join('|'), 'minimum log level', 'info'),
  option('certFile', 'file', 'PEM certificate of the client plane: gRPC API and HTTP become TLS'),
  option('keyFile', 'file', 'PEM private key of --cert-file'),
  option(
    'trustedCaFile',
    'file',
    'PEM CA bundle client certificates are verified against (asked for, not required)',
  ),
  option(
    'clientCertAuth',
    undefined,
    'require a client certificate signed by --trusted-ca-file (HTTP: for /metrics, not probes)',
  ),
  option(
    'peerCertFile',
    'file',
    'PEM certificate of the peer plane (Raft, forwarded calls), served and presented to peers',
  ),
  option('peerKeyFile', 'file', 'PEM private key of --peer-cert-file'),
  option('peerTrustedCaFile', 'file', 'PEM CA bundle members verify each other against'),
  option(
    'peerClientCertAuth',
    undefined,
    'refuse peer connections without a certificate signed by --peer-trusted-ca-file',
  ),
  option(
    'authConfig',
    'file',
    'YAML users, roles and grants: callers must authenticate (re-read on change and SIGHUP)',
  ),
  option(
    'insecure',
    undefined,
    'allow plaintext client and peer listeners off loopback, and (without --auth-config) admin calls from callers not on loopback',
  ),
  option(
    'join',
    undefined,
    'start with no data and wait to be added to the running cluster that --peers names (quorumlock member add)',
  ),
  option(
    'forceNewCluster',
    undefined,
    'disaster recovery: make this node, with its data, a cluster of one (its old members must never run again); then add members',
  ),
];

/** Every environment variable the server reads. */
export const CONFIG_ENV_VARS: readonly string[] = CONFIG_OPTIONS.flatMap((o) =>
  o.alias ? [o.env, o.alias.env] : [o.env],
);

const byKey = new Map(CONFIG_OPTIONS.map((o) => [o.key, o]));

/** A setting as the operator may have spelled it: `--flag (QUORUMLOCK_VARIABLE)`. */
export function describe(key: ConfigKey): string {
  const o = byKey.get(key)!;
  return `${o.flag} (${o.env})`;
}

function portOf(addr: string): number {
  return (parseAddress(addr) as { port: number }).port;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** What the CLI parsed: strings, and true for a switch given (aliases under their own key). */
export type ConfigFlags = Partial<Record<ConfigKey, string | boolean | undefined>> &
  Partial<Record<string, string | boolean | undefined>>;

/**
 * Flags win over the environment. An empty environment variable counts as unset because
 * templated deploy files often render missing values as "".
 */
export function loadServerConfig(
  flags: ConfigFlags,
  env: Readonly<Record<string, string | undefined>> = process.env,
): ServerConfig {
  const input: Record<string, string | undefined> = {};
  const conflicts: string[] = [];
  const read = (key: string, variable: string) => {
    const fromEnv = env[variable];
    const fromFlag = flags[key];
    return typeof fromFlag === 'boolean'
      ? String(fromFlag)
      : (fromFlag ?? (fromEnv === '' ? undefined : fromEnv));
  };
  for (const o of CONFIG_OPTIONS) {
    const value = read(o.key, o.env);
    const old = o.alias && read(o.alias.key, o.alias.env);
    if (o.alias && value !== undefined && old !== undefined && value.trim() !== old.trim()) {
      conflicts.push(
        `invalid ${describe(o.key)}: "${value}" differs from its alias ${o.alias.flag} (${o.alias.env}) "${old}": give one`,
      );
    }
    input[o.key] = value ?? old;
  }
  if (conflicts.length > 0) throw new ConfigError(conflicts);
  const result = serverConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const key = issue.path[0];
      const name =
        typeof key === 'string' && byKey.has(key as ConfigKey)
          ? describe(key as ConfigKey)
          : 'configuration';
      return `invalid ${name}: ${issue.message}`;
    }),
  );
}

export function toLockNodeOptions(config: ServerConfig, logger: Logger): LockNodeOptions {
  return {
    id: config.id,
    clientAddress: config.clientAddress,
    peerAddress: config.peerAddress,
    peers: config.peers,
    join: config.join,
    dataDir: config.dataDir,
    electionTimeoutMinMs: config.electionTimeoutMinMs,
    electionTimeoutMaxMs: config.electionTimeoutMaxMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    checkpointIntervalMs: config.checkpointIntervalMs,
    snapshotEntries: config.snapshotEntries,
    limits: {
      maxLeases: config.maxLeases,
      maxWaitersPerLock: config.maxWaitersPerLock,
      maxLocksPerLease: config.maxLocksPerLease,
      maxElections: config.maxElections,
      maxStreams: config.maxStreams,
      maxStreamBufferBytes: config.maxStreamBufferBytes,
    },
    logger,
  };
}
