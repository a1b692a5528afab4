export * from './types.js';
export * from './storage.js';
export * from './errors.js';
export * from './config.js';
export * from './prng.js';
export * from './ready.js';
export { RaftLog } from './log.js';
export { Progress, ProgressState } from './progress.js';
export { RaftCore, type CoreStatus } from './raft.js';
