// Server configuration: flags over environment, and start-up errors that name both spellings.
import { resolve } from 'node:path';
import { pino } from 'pino';
import {
  CONFIG_ENV_VARS,
  CONFIG_OPTIONS,
  ConfigError,
  type ConfigFlags,
  loadServerConfig,
  toLockNodeOptions,
} from '../src/config/config.js';
import { defaultLimits } from '../src/domain/options.js';

const valid: ConfigFlags = {
  id: 'n1',
  clientAddress: '127.0.0.1:7001',
  peerAddress: '0.0.0.0:7101',
  peers: 'n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103',
  dataDir: './data/n1',
  metricsAddress: '127.0.0.1:9101',
};

function problems(flags: ConfigFlags, env: Record<string, string> = {}): string[] {
  try {
    loadServerConfig(flags, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('loadServerConfig', () => {
  it('parses flags and fills in the defaults', () => {
    expect(loadServerConfig(valid, {})).toEqual({
      id: 'n1',
      clientAddress: '127.0.0.1:7001',
      peerAddress: '0.0.0.0:7101',
      peers: { n1: '127.0.0.1:7101', n2: '127.0.0.1:7102', n3: '127.0.0.1:7103' },
      dataDir: resolve('./data/n1'),
      metricsAddress: '127.0.0.1:9101',
      electionTimeoutMinMs: 150,
      electionTimeoutMaxMs: 300,
      heartbeatIntervalMs: 50,
      checkpointIntervalMs: 250,
      grpcKeepaliveIntervalMs: 10_000,
      grpcKeepaliveTimeoutMs: 10_000,
      snapshotEntries: 10_000,
      maxLeases: defaultLimits.maxLeases,
      maxWaitersPerLock: defaultLimits.maxWaitersPerLock,
      maxLocksPerLease: defaultLimits.maxLocksPerLease,
      maxElections: defaultLimits.maxElections,
      maxStreams: defaultLimits.maxStreams,
      maxStreamBufferBytes: defaultLimits.maxStreamBufferBytes,
      logFormat: 'json',
      logLevel: 'info',
      join: false,
    });
  });

  it('reads every setting from QUORUMLOCK_* variables', () => {
    const config = loadServerConfig(
      {},
      {
        QUORUMLOCK_ID: 'n2',
        QUORUMLOCK_CLIENT_ADDRESS: '[::1]:7002',
        QUORUMLOCK_PEER_ADDRESS: 'n2.internal:7102',
        QUORUMLOCK_PEERS: 'n1=n1.internal:7101, n2=n2.internal:7102',
        QUORUMLOCK_DATA_DIR: '/var/lib/quorumlock',
        QUORUMLOCK_METRICS_ADDRESS: '0.0.0.0:9102',
        QUORUMLOCK_ELECTION_TIMEOUT_MIN_MS: '500',
        QUORUMLOCK_ELECTION_TIMEOUT_MAX_MS: '1000',
        QUORUMLOCK_HEARTBEAT_INTERVAL_MS: '100',
        QUORUMLOCK_CHECKPOINT_INTERVAL_MS: '800',
        QUORUMLOCK_GRPC_KEEPALIVE_INTERVAL_MS: '5000',
        QUORUMLOCK_GRPC_KEEPALIVE_TIMEOUT_MS: '3000',
        QUORUMLOCK_SNAPSHOT_ENTRIES: '500',
        QUORUMLOCK_MAX_LEASES: '10',
        QUORUMLOCK_MAX_WAITERS_PER_LOCK: '20',
        QUORUMLOCK_MAX_LOCKS_PER_LEASE: '4',
        QUORUMLOCK_MAX_ELECTIONS: '40',
        QUORUMLOCK_MAX_STREAMS: '30',
        QUORUMLOCK_MAX_STREAM_BUFFER_BYTES: '1000000',
        QUORUMLOCK_LOG_FORMAT: 'pretty',
        QUORUMLOCK_LOG_LEVEL: 'debug',
        QUORUMLOCK_JOIN: 'true',
      },
    );
    expect(config).toEqual({
      id: 'n2',
      clientAddress: '[::1]:7002',
      peerAddress: 'n2.internal:7102',
      peers: { n1: 'n1.internal:7101', n2: 'n2.internal:7102' },
      dataDir: '/var/lib/quorumlock',
      metricsAddress: '0.0.0.0:9102',
      electionTimeoutMinMs: 500,
      electionTimeoutMaxMs: 1000,
      heartbeatIntervalMs: 100,
      checkpointIntervalMs: 800,
      grpcKeepaliveIntervalMs: 5000,
      grpcKeepaliveTimeoutMs: 3000,
      snapshotEntries: 500,
      maxLeases: 10,
      maxWaitersPerLock: 20,
      maxLocksPerLease: 4,
      maxElections: 40,
      maxStreams: 30,
      maxStreamBufferBytes: 1_000_000,
      logFormat: 'pretty',
      logLevel: 'debug',
      join: true,
    });
  });

  it('lets a node that joins leave itself out of --peers, and reads --join as a flag', () => {
    const { peers: _own, ...rest } = valid;
    const config = loadServerConfig(
      { ...rest, id: 'n4', peerAddress: '127.0.0.1:7104', peers: 'n1=127.0.0.1:7101', join: true },
      {},
    );
    expect(config).toMatchObject({ id: 'n4', join: true, peers: { n1: '127.0.0.1:7101' } });
    expect(() => loadServerConfig({ ...valid, id: 'n4', peers: 'n1=127.0.0.1:7101' }, {})).toThrow(
      /is not a member of --peers/,
    );
    expect(() => loadServerConfig(valid, { QUORUMLOCK_JOIN: 'maybe' })).toThrow(
      /invalid --join \(QUORUMLOCK_JOIN\): must be true or false/,
    );
  });

  it('lets a flag win over its variable', () => {
    const config = loadServerConfig(
      { ...valid, heartbeatIntervalMs: '20' },
      { QUORUMLOCK_ID: 'n2', QUORUMLOCK_HEARTBEAT_INTERVAL_MS: '70', QUORUMLOCK_LOG_LEVEL: 'warn' },
    );
    expect(config.id).toBe('n1');
    expect(config.heartbeatIntervalMs).toBe(20);
    expect(config.logLevel).toBe('warn');
  });

  it('treats an empty variable as unset', () => {
    expect(loadServerConfig(valid, { QUORUMLOCK_SNAPSHOT_ENTRIES: '' }).snapshotEntries).toBe(
      10_000,
    );
    expect(problems({ ...valid, id: undefined }, { QUORUMLOCK_ID: '' })).toEqual([
      'invalid --id (QUORUMLOCK_ID): required',
    ]);
  });

  it('names every missing required setting', () => {
    expect(problems({})).toEqual([
      'invalid --id (QUORUMLOCK_ID): required',
      'invalid --client-address (QUORUMLOCK_CLIENT_ADDRESS): required',
      'invalid --peer-address (QUORUMLOCK_PEER_ADDRESS): required',
      'invalid --peers (QUORUMLOCK_PEERS): required',
      'invalid --data-dir (QUORUMLOCK_DATA_DIR): required',
      'invalid --metrics-address (QUORUMLOCK_METRICS_ADDRESS): required',
    ]);
  });

  const bad: [string, ConfigFlags, string, RegExp][] = [
    [
      'an address without a port',
      { clientAddress: 'localhost' },
      '--client-address (QUORUMLOCK_CLIENT_ADDRESS)',
      /not host:port/,
    ],
    [
      'port 0',
      { metricsAddress: '127.0.0.1:0' },
      '--metrics-address (QUORUMLOCK_METRICS_ADDRESS)',
      /1-65535/,
    ],
    [
      'a port above 65535',
      { clientAddress: '127.0.0.1:70000' },
      '--client-address (QUORUMLOCK_CLIENT_ADDRESS)',
      /1-65535/,
    ],
    [
      'a non-numeric port',
      { peerAddress: '127.0.0.1:http' },
      '--peer-address (QUORUMLOCK_PEER_ADDRESS)',
      /not host:port/,
    ],
    ['an empty peer list', { peers: ' ' }, '--peers (QUORUMLOCK_PEERS)', /at least one/],
    [
      'a peer without an id',
      { peers: '127.0.0.1:7101' },
      '--peers (QUORUMLOCK_PEERS)',
      /not id=host:port/,
    ],
    [
      'a peer id listed twice',
      { peers: 'n1=a:7101,n1=b:7102' },
      '--peers (QUORUMLOCK_PEERS)',
      /listed twice/,
    ],
    [
      'a peer address listed twice',
      { peers: 'n1=a:7101,n2=a:7101' },
      '--peers (QUORUMLOCK_PEERS)',
      /listed twice/,
    ],
    [
      'a bad peer port',
      { peers: 'n1=127.0.0.1:99999' },
      '--peers (QUORUMLOCK_PEERS)',
      /n1: port 99999/,
    ],
    [
      'a bad peer id',
      { peers: 'n 1=127.0.0.1:7101' },
      '--peers (QUORUMLOCK_PEERS)',
      /not a valid node id/,
    ],
    [
      'an id outside --peers',
      { id: 'n4' },
      '--id (QUORUMLOCK_ID)',
      /not a member of --peers \(QUORUMLOCK_PEERS\): n1, n2, n3/,
    ],
    [
      'a peer port unlike this node’s entry',
      { peerAddress: '127.0.0.1:7102' },
      '--peer-address (QUORUMLOCK_PEER_ADDRESS)',
      /port must be 7101/,
    ],
    [
      'client and metrics on one port',
      { metricsAddress: '0.0.0.0:7001' },
      '--metrics-address (QUORUMLOCK_METRICS_ADDRESS)',
      /same port as --client-address/,
    ],
    [
      'min election timeout not below max',
      { electionTimeoutMinMs: '300' },
      '--election-timeout-min-ms (QUORUMLOCK_ELECTION_TIMEOUT_MIN_MS)',
      /below --election-timeout-max-ms/,
    ],
    [
      'heartbeat not below the election timeout',
      { heartbeatIntervalMs: '150' },
      '--heartbeat-interval-ms (QUORUMLOCK_HEARTBEAT_INTERVAL_MS)',
      /below --election-timeout-min-ms/,
    ],
    [
      'an unknown log format',
      { logFormat: 'xml' },
      '--log-format (QUORUMLOCK_LOG_FORMAT)',
      /json, pretty/,
    ],
    [
      'an unknown log level',
      { logLevel: 'loud' },
      '--log-level (QUORUMLOCK_LOG_LEVEL)',
      /one of fatal, error/,
    ],
    ['an empty data dir', { dataDir: '' }, '--data-dir (QUORUMLOCK_DATA_DIR)', /must not be empty/],
    [
      'a checkpoint interval beyond the expiry bound’s second',
      { checkpointIntervalMs: '1001' },
      '--checkpoint-interval-ms (QUORUMLOCK_CHECKPOINT_INTERVAL_MS)',
      /at most 1000/,
    ],
  ];

  it.each(bad)('rejects %s, naming the flag and variable', (_what, override, names, why) => {
    const found = problems({ ...valid, ...override });
    expect(found).toHaveLength(1);
    expect(found[0]!.startsWith(`invalid ${names}: `)).toBe(true);
    expect(found[0]).toMatch(why);
  });

  const numeric = CONFIG_OPTIONS.filter((o) => o.value === 'ms' || o.value === 'n');

  it.each(
    numeric.flatMap((o) => ['0', '-1', '1.5', '1e3', 'ten', ''].map((v) => [o.flag, o.key, v])),
  )('rejects %s %j: not a positive integer', (flag, key, value) => {
    const env = CONFIG_OPTIONS.find((o) => o.flag === flag)!.env;
    expect(problems({ ...valid, [key]: value })).toContain(
      `invalid ${flag} (${env}): must be a positive integer`,
    );
  });

  it('names the flag and variable for a bad value from the environment too', () => {
    expect(problems(valid, { QUORUMLOCK_MAX_STREAMS: 'many' })).toEqual([
      'invalid --max-streams (QUORUMLOCK_MAX_STREAMS): must be a positive integer',
    ]);
  });

  it('binds the client listener to --client-listen-address, advertising --client-address', () => {
    const config = loadServerConfig(
      { ...valid, clientAddress: 'quorumlock-0.quorumlock-peers:7001' },
      { QUORUMLOCK_CLIENT_LISTEN_ADDRESS: '0.0.0.0:7001' },
    );
    expect(config.clientAddress).toBe('quorumlock-0.quorumlock-peers:7001');
    expect(config.clientListenAddress).toBe('0.0.0.0:7001');
    expect(loadServerConfig(valid, {}).clientListenAddress).toBeUndefined();
  });

  it('checks --client-listen-address like the other listeners', () => {
    expect(problems({ ...valid, clientListenAddress: '0.0.0.0' })).toEqual([
      'invalid --client-listen-address (QUORUMLOCK_CLIENT_LISTEN_ADDRESS): "0.0.0.0" is not host:port',
    ]);
    expect(problems({ ...valid, clientListenAddress: '0.0.0.0:9101' })).toEqual([
      'invalid --metrics-address (QUORUMLOCK_METRICS_ADDRESS): must not use the same port as --client-listen-address (QUORUMLOCK_CLIENT_LISTEN_ADDRESS)',
    ]);
    // The advertised port may differ from the bound one (a port mapping in front of the node).
    expect(loadServerConfig({ ...valid, clientListenAddress: '0.0.0.0:7005' }, {})).toMatchObject({
      clientAddress: '127.0.0.1:7001',
      clientListenAddress: '0.0.0.0:7005',
    });
  });

  it('accepts a peer address on another host with this node’s port (a 0.0.0.0 bind)', () => {
    expect(loadServerConfig({ ...valid, peerAddress: '0.0.0.0:7101' }, {}).peerAddress).toBe(
      '0.0.0.0:7101',
    );
  });
});

describe('CONFIG_ENV_VARS', () => {
  it('lists every variable the server reads', () => {
    expect([...CONFIG_ENV_VARS].sort()).toEqual(
      [
        'QUORUMLOCK_ID',
        'QUORUMLOCK_CLIENT_ADDRESS',
        'QUORUMLOCK_CLIENT_LISTEN_ADDRESS',
        'QUORUMLOCK_PEER_ADDRESS',
        'QUORUMLOCK_PEERS',
        'QUORUMLOCK_DATA_DIR',
        'QUORUMLOCK_METRICS_ADDRESS',
        'QUORUMLOCK_ELECTION_TIMEOUT_MIN_MS',
        'QUORUMLOCK_ELECTION_TIMEOUT_MAX_MS',
        'QUORUMLOCK_HEARTBEAT_INTERVAL_MS',
        'QUORUMLOCK_CHECKPOINT_INTERVAL_MS',
        'QUORUMLOCK_GRPC_KEEPALIVE_INTERVAL_MS',
        'QUORUMLOCK_GRPC_KEEPALIVE_TIMEOUT_MS',
        'QUORUMLOCK_SNAPSHOT_ENTRIES',
        'QUORUMLOCK_MAX_LEASES',
        'QUORUMLOCK_MAX_WAITERS_PER_LOCK',
        'QUORUMLOCK_MAX_LOCKS_PER_LEASE',
        'QUORUMLOCK_MAX_ELECTIONS',
        'QUORUMLOCK_MAX_STREAMS',
        'QUORUMLOCK_MAX_STREAM_BUFFER_BYTES',
        'QUORUMLOCK_LOG_FORMAT',
        'QUORUMLOCK_LOG_LEVEL',
        'QUORUMLOCK_JOIN',
      ].sort(),
    );
  });
});

describe('toLockNodeOptions', () => {
  it('hands the node its settings and limits', () => {
    const logger = pino({ level: 'silent' });
    const config = loadServerConfig({ ...valid, maxLeases: '7', maxStreams: '9' }, {});
    expect(toLockNodeOptions(config, logger)).toEqual({
      id: 'n1',
      clientAddress: '127.0.0.1:7001',
      peerAddress: '0.0.0.0:7101',
      peers: config.peers,
      join: false,
      dataDir: config.dataDir,
      electionTimeoutMinMs: 150,
      electionTimeoutMaxMs: 300,
      heartbeatIntervalMs: 50,
      checkpointIntervalMs: 250,
      snapshotEntries: 10_000,
      limits: {
        maxLeases: 7,
        maxWaitersPerLock: defaultLimits.maxWaitersPerLock,
        maxLocksPerLease: defaultLimits.maxLocksPerLease,
        maxElections: defaultLimits.maxElections,
        maxStreams: 9,
        maxStreamBufferBytes: defaultLimits.maxStreamBufferBytes,
      },
      logger,
    });
  });
});
