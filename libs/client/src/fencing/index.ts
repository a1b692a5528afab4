// @quorumlock/client/fencing: writes that storage refuses once a newer lock holder has written.
export {
  type FencedStore,
  fencedWrite,
  MemoryFencedStore,
  StaleFencingTokenError,
} from './fenced-store.js';
export { PgFencedTable, type PgFencedTableOptions, type PgQueryable } from './postgres.js';
