import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimDataDir, DATA_DIR_FORMAT, DataDirError, isEmptyDir } from '../src/data-dir.js';

describe('data-dir identity', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'ql-datadir-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a new data dir is claimed for the node; the same node may start on it again', () => {
    expect(isEmptyDir(dir)).toBe(true);
    expect(claimDataDir(dir, 'n1')).toEqual({ format: DATA_DIR_FORMAT, node: 'n1' });
    expect(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8'))).toEqual({
      format: DATA_DIR_FORMAT,
      node: 'n1',
    });
    expect(isEmptyDir(dir)).toBe(false);
    expect(claimDataDir(dir, 'n1').node).toBe('n1');
  });

  test("another node's data dir is refused, naming both nodes", () => {
    claimDataDir(dir, 'n1');
    expect(() => claimDataDir(dir, 'n2')).toThrow(DataDirError);
    expect(() => claimDataDir(dir, 'n2')).toThrow(`belongs to node n1, not n2`);
  });

  test('a newer format is refused whatever else the file holds; a malformed file names its field', () => {
    writeFileSync(join(dir, 'identity.json'), JSON.stringify({ format: 7, owner: 'x' }));
    expect(() => claimDataDir(dir, 'n1')).toThrow(
      /newer Quorum Lock \(data format 7; this version reads format 1/,
    );
    writeFileSync(join(dir, 'identity.json'), JSON.stringify({ format: 1, node: 5 }));
    expect(() => claimDataDir(dir, 'n1')).toThrow(/field node/);
    writeFileSync(join(dir, 'identity.json'), '{');
    expect(() => claimDataDir(dir, 'n1')).toThrow(/not valid JSON/);
  });
});
