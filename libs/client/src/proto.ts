// The public API as the SDK speaks it: code generated from proto/quorumlock/v1 into ./gen by
// scripts/gen-proto.sh, with uint64 as bigint so that fencing tokens are exact whatever a
// server sends. Nothing is loaded at run time; the SDK depends on no server code.
import { ClusterServiceDefinition } from './gen/quorumlock/v1/cluster.js';
import { ElectionServiceDefinition } from './gen/quorumlock/v1/election.js';
import { LockServiceDefinition } from './gen/quorumlock/v1/lock.js';
import {
  grpcServiceDefinition,
  type MethodsByName,
  type RequestOf,
  type ResponseOf,
  type ServiceMethods,
} from './service-definition.js';

const SERVICES = {
  LockService: LockServiceDefinition,
  ElectionService: ElectionServiceDefinition,
  ClusterService: ClusterServiceDefinition,
};
type Services = typeof SERVICES;

export type ServiceName = keyof Services;
export type MethodName<S extends ServiceName> = keyof MethodsByName<Services[S]> & string;
/** A request as the SDK writes it: fields left out are sent as proto3's defaults. */
export type Request<S extends ServiceName, M extends MethodName<S>> = Partial<
  RequestOf<Services[S], M>
>;
export type Response<S extends ServiceName, M extends MethodName<S>> = ResponseOf<Services[S], M>;

/** The method definitions of the three services, keyed by service then method name. */
export type ApiDefinitions = { [S in ServiceName]: ServiceMethods<Services[S]> };

export const API_DEFINITIONS: ApiDefinitions = {
  LockService: grpcServiceDefinition(SERVICES.LockService),
  ElectionService: grpcServiceDefinition(SERVICES.ElectionService),
  ClusterService: grpcServiceDefinition(SERVICES.ClusterService),
};
