export { MemoryStorage, type CompleteWrite } from './memory-storage.js';
export { RocksDbStorage } from './rocksdb-storage.js';
export { InvalidWriteError, type LogBounds } from './validation.js';
