import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BACKUP_FORMAT,
  type BackupHeader,
  backupBytes,
  BackupFileError,
  openBackup,
} from '../src/backup/backup-file.js';

const header: BackupHeader = {
  format: BACKUP_FORMAT,
  cluster_id: '0123456789abcdef',
  index: 42,
  term: 3,
  state_format: 4,
  taken_by: 'n1',
  taken_at: '2026-12-05T00:00:00.000Z',
  counts: { leases: 2, locks_held: 1, elections_led: 1, waiters: 0, max_token: 40 },
  members: [{ id: 'n1', address: 'h:1', learner: false }],
};
const body = [Buffer.from('state-part-one;'), Buffer.from('state-part-two')];

describe('backup files', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ql-backup-'));
    file = join(dir, 'b.snap');
    writeFileSync(file, Buffer.concat([...backupBytes(header, body.values())]));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function bodyOf(path: string): Promise<string> {
    const f = await openBackup(path);
    const parts: Buffer[] = [];
    for await (const c of f.body()) parts.push(Buffer.from(c));
    return Buffer.concat(parts).toString();
  }

  test('a written file reads back: header, body, and a checksum that verifies', async () => {
    const f = await openBackup(file);
    expect(f.header).toEqual(header);
    await expect(f.verify()).resolves.toBeUndefined();
    expect(await bodyOf(file)).toBe('state-part-one;state-part-two');
    expect(f.bodyBytes).toBe(29);
  });

  test('a flipped byte anywhere is caught: in the body, the header, or the checksum', async () => {
    const good = readFileSync(file);
    const headerEnd = 12 + good.readUInt32BE(8);
    for (const at of [headerEnd + 3, good.length - 5, 20]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x01;
      writeFileSync(file, bad);
      const check = async () => (await openBackup(file)).verify();
      await expect(check()).rejects.toBeInstanceOf(BackupFileError);
    }
  });

  test('a truncated file, another file, and a newer format are refused with what is wrong', async () => {
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, 30));
    await expect(openBackup(file)).rejects.toThrow(/truncated or corrupt/);
    writeFileSync(file, good.subarray(0, good.length - 10));
    await expect((await openBackup(file)).verify()).rejects.toThrow(/is corrupt/);
    writeFileSync(file, 'hello, this is not a snapshot at all, but long enough');
    await expect(openBackup(file)).rejects.toThrow(/not a Quorum Lock snapshot file/);
    writeFileSync(file, Buffer.concat([...backupBytes({ ...header, format: 9 }, body.values())]));
    await expect(openBackup(file)).rejects.toThrow(
      /format 9, newer than this quorumlock reads \(1\)/,
    );
    writeFileSync(file, Buffer.concat([...backupBytes({ ...header, index: -1 }, body.values())]));
    await expect(openBackup(file)).rejects.toThrow(/header field index/);
  });
});
