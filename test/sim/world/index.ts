// A deterministic simulated world (FoundationDB style) for running real drivers and services:
// virtual time, hosts with drifting clocks that crash and freeze, a faulty network and disks.
export { SimFailure, SimWorld, type SimWorldOptions } from './world.js';
export { type HostId, SimHost } from './host.js';
export {
  calmNetwork,
  type NetworkPolicy,
  type NetworkStats,
  type SendVerdict,
  SimNetwork,
} from './network.js';
export { describeMessage, SimTransport, type SimTransportOptions } from './transport.js';
export {
  type CrashTrigger,
  type DiskPolicy,
  type DurableWrite,
  fastDisk,
  SimDisk,
  SimStorage,
  slowDisk,
} from './storage.js';
