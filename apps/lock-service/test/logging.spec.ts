// pino set-up: JSON by default, and the dependency-free one-line "pretty" format.
import { createLogger, formatPrettyLine } from '../src/server.js';

describe('createLogger', () => {
  it('writes one JSON object per line at the configured level', () => {
    const lines: string[] = [];
    const logger = createLogger(
      { logFormat: 'json', logLevel: 'warn' },
      { write: (l) => lines.push(l) },
    );
    logger.info('hidden');
    logger.warn({ peer: 'n2' }, 'peer lost');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, msg: 'peer lost', peer: 'n2' });
  });

  it('writes human lines in pretty format', () => {
    const lines: string[] = [];
    const logger = createLogger(
      { logFormat: 'pretty', logLevel: 'info' },
      { write: (l) => lines.push(l) },
    );
    logger.child({ node: 'n1' }).info({ term: 3, leader: '' }, 'raft state changed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO  \[n1\] raft state changed term=3 leader=""\n$/,
    );
  });
});

describe('formatPrettyLine', () => {
  const line = (record: object) =>
    JSON.stringify({ time: '2026-01-02T03:04:05.678Z', pid: 1, hostname: 'h', ...record });

  it('prints time, level, node, message and fields, quoting what needs it', () => {
    expect(
      formatPrettyLine(
        line({
          level: 30,
          node: 'n2',
          msg: 'serving',
          client: '127.0.0.1:7001',
          note: 'a b',
          n: { x: 1 },
        }),
      ),
    ).toBe('03:04:05.678 INFO  [n2] serving client=127.0.0.1:7001 note="a b" n={"x":1}\n');
  });

  it('adds the stack of an error logged at error level, and only the message below it', () => {
    const err = {
      type: 'Error',
      message: 'disk full',
      stack: 'Error: disk full\n    at write (x.js:1:1)',
    };
    expect(formatPrettyLine(line({ level: 50, msg: 'apply failed', err }))).toBe(
      '03:04:05.678 ERROR apply failed\n    Error: disk full\n        at write (x.js:1:1)\n',
    );
    expect(formatPrettyLine(line({ level: 40, msg: 'peer lost', err }))).toBe(
      '03:04:05.678 WARN  peer lost err="disk full"\n',
    );
  });

  it('shows the Raft role and term next to the node', () => {
    expect(
      formatPrettyLine(
        line({ level: 30, node: 'n1', role: 'leader', term: 4, msg: 'lease expired' }),
      ),
    ).toBe('03:04:05.678 INFO  [n1 leader t4] lease expired\n');
  });

  it('passes through what is not JSON', () => {
    expect(formatPrettyLine('plain text')).toBe('plain text\n');
  });
});
