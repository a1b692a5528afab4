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
  peerAddress: '127.0.0.1:7101',
  peers: 'n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103',
  dataDir: './data/n1',
  httpAddress: '127.0.0.1:9101',
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
      peerAddress: '127.0.0.1:7101',
      peers: { n1: '127.0.0.1:7101', n2: '127.0.0.1:7102', n3: '127.0.0.1:7103' },
      dataDir: resolve('./data/n1'),
      httpAddress: '127.0.0.1:9101',
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
      clientCertAuth: false,
      peerClientCertAuth: false,
      insecure: false,
      join: false,
      forceNewCluster: false,
    });
  });

  it('reads --metrics-address and QUORUMLOCK_METRICS_ADDRESS as aliases of the HTTP address', () => {
    const { httpAddress: _, ...rest } = valid;
    expect(loadServerConfig({ ...rest, metricsAddress: '127.0.0.1:9201' }, {}).httpAddress).toBe(
      '127.0.0.1:9201',
    );
    expect(
      loadServerConfig(rest, { QUORUMLOCK_METRICS_ADDRESS: '127.0.0.1:9202' }).httpAddress,
    ).toBe('127.0.0.1:9202');
    // The new spelling wins over an old variable a deployment may still set.
    expect(
      loadServerConfig(valid, { QUORUMLOCK_METRICS_ADDRESS: '127.0.0.1:9101' }).httpAddress,
    ).toBe('127.0.0.1:9101');
    expect(problems({ ...valid, metricsAddress: '127.0.0.1:9203' })).toEqual([
      'invalid --http-address (QUORUMLOCK_HTTP_ADDRESS): "127.0.0.1:9101" differs from its alias --metrics-address (QUORUMLOCK_METRICS_ADDRESS) "127.0.0.1:9203": give one',
    ]);
    expect(problems(rest)).toContain('invalid --http-address (QUORUMLOCK_HTTP_ADDRESS): required');
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
        QUORUMLOCK_HTTP_ADDRESS: '0.0.0.0:9102',
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
        QUORUMLOCK_CERT_FILE: '/tls/client.crt',
        QUORUMLOCK_KEY_FILE: '/tls/client.key',
        QUORUMLOCK_TRUSTED_CA_FILE: '/tls/client-ca.crt',
        QUORUMLOCK_CLIENT_CERT_AUTH: 'true',
        QUORUMLOCK_PEER_CERT_FILE: '/tls/peer.crt',
        QUORUMLOCK_PEER_KEY_FILE: '/tls/peer.key',
        QUORUMLOCK_PEER_TRUSTED_CA_FILE: '/tls/peer-ca.crt',
        QUORUMLOCK_PEER_CLIENT_CERT_AUTH: '1',
        QUORUMLOCK_AUTH_CONFIG: '/etc/quorumlock/auth.yaml',
        QUORUMLOCK_INSECURE: 'true',
        QUORUMLOCK_JOIN: 'true',
      },
    );
    expect(config).toEqual({
      id: 'n2',
      clientAddress: '[::1]:7002',
      peerAddress: 'n2.internal:7102',
      peers: { n1: 'n1.internal:7101', n2: 'n2.internal:7102' },
      dataDir: '/var/lib/quorumlock',
      httpAddress: '0.0.0.0:9102',
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
      certFile: '/tls/client.crt',
      keyFile: '/tls/client.key',
      trustedCaFile: '/tls/client-ca.crt',
      clientCertAuth: true,
      peerCertFile: '/tls/peer.crt',
      peerKeyFile: '/tls/peer.key',
      peerTrustedCaFile: '/tls/peer-ca.crt',
      peerClientCertAuth: true,
      authConfig: '/etc/quorumlock/auth.yaml',
      insecure: true,
      join: true,
      forceNewCluster: false,
    });
  });

  it('takes --insecure as a bare switch, and QUORUMLOCK_INSECURE as true or false', () => {
    expect(loadServerConfig({ ...valid, insecure: true }, {}).insecure).toBe(true);
    expect(loadServerConfig(valid, { QUORUMLOCK_INSECURE: 'no' }).insecure).toBe(false);
    expect(problems(valid, { QUORUMLOCK_INSECURE: 'maybe' })).toEqual([
      'invalid --insecure (QUORUMLOCK_INSECURE): must be true or false',
    ]);
  });

  it('resolves --auth-config against the working directory, and refuses an empty one', () => {
    expect(loadServerConfig({ ...valid, authConfig: 'auth.yaml' }, {}).authConfig).toBe(
      resolve('auth.yaml'),
    );
    expect(problems({ ...valid, authConfig: ' ' })).toEqual([
      'invalid --auth-config (QUORUMLOCK_AUTH_CONFIG): must not be empty',
    ]);
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

  it('reads --force-new-cluster as a flag, and refuses it with --join', () => {
    expect(loadServerConfig({ ...valid, forceNewCluster: true }, {}).forceNewCluster).toBe(true);
    expect(loadServerConfig(valid, { QUORUMLOCK_FORCE_NEW_CLUSTER: 'true' }).forceNewCluster).toBe(
      true,
    );
    expect(() => loadServerConfig({ ...valid, forceNewCluster: true, join: true }, {})).toThrow(
      /invalid --force-new-cluster \(QUORUMLOCK_FORCE_NEW_CLUSTER\): cannot be used with --join/,
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
      'invalid --http-address (QUORUMLOCK_HTTP_ADDRESS): required',
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
      { httpAddress: '127.0.0.1:0' },
      '--http-address (QUORUMLOCK_HTTP_ADDRESS)',
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
      { httpAddress: '0.0.0.0:7001' },
      '--http-address (QUORUMLOCK_HTTP_ADDRESS)',
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
      { QUORUMLOCK_CLIENT_LISTEN_ADDRESS: '0.0.0.0:7001', QUORUMLOCK_INSECURE: 'yes' },
    );
    expect(config.clientAddress).toBe('quorumlock-0.quorumlock-peers:7001');
    expect(config.clientListenAddress).toBe('0.0.0.0:7001');
    expect(loadServerConfig(valid, {}).clientListenAddress).toBeUndefined();
  });

  it('checks --client-listen-address like the other listeners', () => {
    expect(problems({ ...valid, clientListenAddress: '0.0.0.0' })).toEqual([
      'invalid --client-listen-address (QUORUMLOCK_CLIENT_LISTEN_ADDRESS): "0.0.0.0" is not host:port',
    ]);
    expect(problems({ ...valid, clientListenAddress: '0.0.0.0:9101', insecure: true })).toEqual([
      'invalid --http-address (QUORUMLOCK_HTTP_ADDRESS): must not use the same port as --client-listen-address (QUORUMLOCK_CLIENT_LISTEN_ADDRESS)',
    ]);
    // The advertised port may differ from the bound one (a port mapping in front of the node).
    const listening = { ...valid, clientListenAddress: '0.0.0.0:7005', insecure: true };
    expect(loadServerConfig(listening, {})).toMatchObject({
      clientAddress: '127.0.0.1:7001',
      clientListenAddress: '0.0.0.0:7005',
    });
  });

  it('accepts a peer address on another host with this node’s port (a 0.0.0.0 bind)', () => {
    const all = { ...valid, peerAddress: '0.0.0.0:7101', insecure: true };
    expect(loadServerConfig(all, {}).peerAddress).toBe('0.0.0.0:7101');
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
        'QUORUMLOCK_HTTP_ADDRESS',
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
        'QUORUMLOCK_CERT_FILE',
        'QUORUMLOCK_KEY_FILE',
        'QUORUMLOCK_TRUSTED_CA_FILE',
        'QUORUMLOCK_CLIENT_CERT_AUTH',
        'QUORUMLOCK_PEER_CERT_FILE',
        'QUORUMLOCK_PEER_KEY_FILE',
        'QUORUMLOCK_PEER_TRUSTED_CA_FILE',
        'QUORUMLOCK_PEER_CLIENT_CERT_AUTH',
        'QUORUMLOCK_AUTH_CONFIG',
        'QUORUMLOCK_INSECURE',
        'QUORUMLOCK_JOIN',
        'QUORUMLOCK_FORCE_NEW_CLUSTER',
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
      peerAddress: '127.0.0.1:7101',
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

describe('transport security settings', () => {
  const peerTls: ConfigFlags = {
    peerCertFile: 'peer.crt',
    peerKeyFile: 'peer.key',
    peerTrustedCaFile: 'peer-ca.crt',
  };
  const clientTls: ConfigFlags = { certFile: 'n1.crt', keyFile: 'n1.key' };

  it.each([
    [
      'a certificate without its key',
      { certFile: 'n1.crt' },
      'invalid --key-file (QUORUMLOCK_KEY_FILE): required with --cert-file (QUORUMLOCK_CERT_FILE)',
    ],
    [
      'a key without its certificate',
      { peerKeyFile: 'peer.key' },
      'invalid --peer-cert-file (QUORUMLOCK_PEER_CERT_FILE): required with --peer-key-file (QUORUMLOCK_PEER_KEY_FILE)',
    ],
    [
      '--client-cert-auth without a trusted CA',
      { ...clientTls, clientCertAuth: true },
      'invalid --client-cert-auth (QUORUMLOCK_CLIENT_CERT_AUTH): needs --trusted-ca-file (QUORUMLOCK_TRUSTED_CA_FILE), the CA that client certificates are verified against',
    ],
    [
      '--peer-client-cert-auth without a peer CA',
      { peerClientCertAuth: true },
      'invalid --peer-client-cert-auth (QUORUMLOCK_PEER_CLIENT_CERT_AUTH): needs --peer-trusted-ca-file (QUORUMLOCK_PEER_TRUSTED_CA_FILE), the CA that peer certificates are verified against',
    ],
    [
      'a peer certificate without the CA members verify each other against',
      { peerCertFile: 'peer.crt', peerKeyFile: 'peer.key' },
      "invalid --peer-trusted-ca-file (QUORUMLOCK_PEER_TRUSTED_CA_FILE): required with --peer-cert-file (QUORUMLOCK_PEER_CERT_FILE): members verify each other's certificates against it",
    ],
    [
      'a trusted CA without a certificate to serve',
      { trustedCaFile: 'ca.crt' },
      'invalid --trusted-ca-file (QUORUMLOCK_TRUSTED_CA_FILE): needs --cert-file (QUORUMLOCK_CERT_FILE) and --key-file (QUORUMLOCK_KEY_FILE): a client listener without its own certificate cannot speak TLS',
    ],
    [
      'a switch that is neither true nor false',
      { insecure: 'maybe' },
      'invalid --insecure (QUORUMLOCK_INSECURE): must be true or false',
    ],
  ])('refuses %s, naming the setting', (_what, flags, message) => {
    expect(problems({ ...valid, ...flags })).toEqual([message]);
  });

  it('refuses a plaintext listener off loopback, naming the address and what would allow it', () => {
    expect(problems({ ...valid, clientListenAddress: '0.0.0.0:7001' })).toEqual([
      'invalid --client-listen-address (QUORUMLOCK_CLIENT_LISTEN_ADDRESS): refusing to listen on 0.0.0.0:7001 without TLS: anyone who can reach it could read and release every lock. Give --cert-file (QUORUMLOCK_CERT_FILE), --key-file (QUORUMLOCK_KEY_FILE) and --trusted-ca-file (QUORUMLOCK_TRUSTED_CA_FILE), or --insecure (QUORUMLOCK_INSECURE) to run it in plaintext anyway',
    ]);
    const both = problems({ ...valid, clientAddress: '10.0.0.1:7001', peerAddress: '[::]:7101' });
    expect(both).toHaveLength(2);
    expect(both[0]).toMatch(/^invalid --client-address .*refusing to listen on 10\.0\.0\.1:7001/);
    expect(both[1]).toMatch(
      /^invalid --peer-address .*refusing to listen on \[::\]:7101 without TLS: anyone who can reach it could speak Raft.*--peer-cert-file.*--insecure/,
    );
  });

  it('lets a plane listen off loopback with its TLS, or with --insecure', () => {
    const open = { ...valid, clientAddress: 'n1.example:7001', peerAddress: '0.0.0.0:7101' };
    expect(problems(open)).toHaveLength(2);
    expect(problems({ ...open, ...clientTls })).toHaveLength(1);
    expect(loadServerConfig({ ...open, ...clientTls, ...peerTls }, {})).toMatchObject({
      insecure: false,
      certFile: 'n1.crt',
      peerCertFile: 'peer.crt',
    });
    expect(loadServerConfig(open, { QUORUMLOCK_INSECURE: 'true' }).insecure).toBe(true);
  });

  it('counts 127.0.0.0/8, ::1 and localhost as loopback', () => {
    for (const host of ['127.0.0.1', '127.3.2.1', '[::1]', 'localhost', 'LOCALHOST']) {
      const config = loadServerConfig({ ...valid, clientAddress: `${host}:7001` }, {});
      expect(config.clientAddress).toBe(`${host}:7001`);
    }
    expect(problems({ ...valid, clientAddress: '128.0.0.1:7001' })).toHaveLength(1);
  });
});
