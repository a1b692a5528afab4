// @quorumlock/client/grpc: the API as raw gRPC, for programs the SDK's handles do not suit
// (a load generator, a proxy, a server of the same API): the generated messages and service
// definitions, and grpc-js definitions made from them.
export * from './gen/quorumlock/v1/cluster.js';
export * from './gen/quorumlock/v1/election.js';
export * from './gen/quorumlock/v1/lock.js';
export {
  API_DEFINITIONS,
  type ApiDefinitions,
  type MethodName,
  type Request,
  type Response,
  type ServiceName,
} from './proto.js';
export {
  type GenericMethod,
  type GenericService,
  grpcServiceDefinition,
  type MessageCodec,
} from './service-definition.js';
