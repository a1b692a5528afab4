// grpc-js service definitions from the generic ones ts-proto generates (scripts/gen-proto.sh).
// Generic on purpose, so that the server builds its own from its copy of the generated code.
import type * as grpc from '@grpc/grpc-js';

/** What ts-proto generates for each message: a binary codec, and proto3's defaults. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
  fromPartial(object: object): T;
}

/** One method of a ts-proto generic service definition (outputServices=generic-definitions). */
export interface GenericMethod {
  readonly name: string;
  readonly requestType: MessageCodec<unknown>;
  readonly requestStream: boolean;
  readonly responseType: MessageCodec<unknown>;
  readonly responseStream: boolean;
}

export interface GenericService {
  readonly name: string;
  readonly fullName: string;
  readonly methods: { readonly [key: string]: GenericMethod };
}

/** A service's methods keyed by their proto names ('Acquire'), the names on the wire. */
export type MethodsByName<S extends GenericService> = {
  [K in keyof S['methods'] as S['methods'][K]['name']]: S['methods'][K];
};

type Decoded<C> = C extends { decode(input: Uint8Array): infer T } ? T : never;

/** The message types of a method of S, by its proto name. */
export type RequestOf<
  S extends GenericService,
  M extends keyof MethodsByName<S>,
> = MethodsByName<S>[M] extends { requestType: infer C } ? Decoded<C> : never;
export type ResponseOf<
  S extends GenericService,
  M extends keyof MethodsByName<S>,
> = MethodsByName<S>[M] extends { responseType: infer C } ? Decoded<C> : never;

/**
 * Messages are filled in with proto3's defaults before encoding (fromPartial), so a partial
 * message, which the wire cannot tell from a complete one, encodes as it would in any other
 * protobuf library instead of failing on its first missing field.
 */
function serializer(codec: MessageCodec<unknown>): (value: unknown) => Buffer {
  return (value) => {
    const bytes = codec.encode(codec.fromPartial(value as object)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** A grpc-js service definition that knows its method names, so that a lookup needs no check. */
export type ServiceMethods<S extends GenericService> = Record<
  keyof MethodsByName<S> & string,
  grpc.MethodDefinition<unknown, unknown>
> &
  grpc.ServiceDefinition;

/**
 * The grpc-js definition of a service, keyed like @grpc/proto-loader's: by the proto's method
 * name, with the lower-camel-case one as originalName (grpc-js clients get both as methods).
 */
export function grpcServiceDefinition<S extends GenericService>(service: S): ServiceMethods<S> {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [key, m] of Object.entries(service.methods)) {
    def[m.name] = {
      path: `/${service.fullName}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: serializer(m.requestType),
      requestDeserialize: (bytes: Buffer) => m.requestType.decode(bytes),
      responseSerialize: serializer(m.responseType),
      responseDeserialize: (bytes: Buffer) => m.responseType.decode(bytes),
      originalName: key,
    };
  }
  // Every method of the service went in above, under its proto name.
  return def;
}
