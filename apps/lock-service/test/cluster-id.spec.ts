import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { bootstrapClusterId, ClusterIdFile } from '../src/cluster-id.js';
import { removeTempDir, tempDir } from '../../../libs/testing/src/processes.js';

const logger = pino({ level: 'silent' });
const peers = { n1: 'h1:7101', n2: 'h2:7102', n3: 'h3:7103' };

describe('ClusterIdFile', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('cluster-id')));
  afterEach(() => removeTempDir(dir));

  it('gives every node bootstrapped with the same members the same id, others another', () => {
    expect(bootstrapClusterId({ n3: 'h3:7103', n1: 'proxy:1', n2: 'h2:7102' })).toBe(
      bootstrapClusterId(peers),
    );
    expect(bootstrapClusterId({ ...peers, n4: 'h4:7104' })).not.toBe(bootstrapClusterId(peers));
    expect(bootstrapClusterId(peers)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('writes the bootstrap id once and keeps it whatever --peers says later', () => {
    const first = new ClusterIdFile(dir, { peers, join: false }, logger);
    expect(first.id()).toBe(bootstrapClusterId(peers));
    expect(readFileSync(join(dir, 'cluster-id'), 'utf8').trim()).toBe(first.id());
    const later = new ClusterIdFile(dir, { peers: { n1: 'h1:7101' }, join: true }, logger);
    expect(later.id()).toBe(first.id());
    later.adopt('0123456789abcdef');
    expect(later.id()).toBe(first.id());
  });

  it('a node that joins knows no id until it adopts the first cluster that reaches it', () => {
    const j = new ClusterIdFile(dir, { peers, join: true }, logger);
    expect(j.id()).toBe('');
    j.adopt('not an id');
    expect(j.id()).toBe('');
    j.adopt('0123456789abcdef');
    expect(j.id()).toBe('0123456789abcdef');
    expect(new ClusterIdFile(dir, { peers, join: true }, logger).id()).toBe('0123456789abcdef');
  });

  it('reports mismatches to its listeners and refuses a corrupt file', () => {
    const c = new ClusterIdFile(dir, { peers, join: false }, logger);
    const seen: string[] = [];
    c.onMismatch((peer, detail) => seen.push(`${peer} ${detail}`));
    c.mismatch('n2', 'cluster id mismatch');
    expect(seen).toEqual(['n2 cluster id mismatch']);
    writeFileSync(join(dir, 'cluster-id'), 'garbage\n');
    expect(() => new ClusterIdFile(dir, { peers, join: false }, logger)).toThrow(
      /does not hold a cluster id/,
    );
  });
});
