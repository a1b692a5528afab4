// Every failure leaves as a gRPC status: DomainErrors with their own code, anything else as
// INTERNAL (logged here, since the client only sees a generic message).
import { status } from '@grpc/grpc-js';
import { Catch, Inject, type RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import type { Logger } from 'pino';
import { type Observable, throwError } from 'rxjs';
import { DomainError } from '../domain/errors.js';
import { LOGGER } from './tokens.js';

export interface GrpcStatusError {
  readonly code: number;
  readonly message: string;
}

function isStatusError(value: unknown): value is GrpcStatusError {
  const v = value as Partial<GrpcStatusError> | null;
  return (
    typeof v === 'object' && v !== null && Number.isInteger(v.code) && typeof v.message === 'string'
  );
}

@Catch()
export class GrpcExceptionFilter implements RpcExceptionFilter<unknown> {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown): Observable<never> {
    const error = this.toRpcException(exception).getError() as GrpcStatusError;
    // grpc-js reads code and message (as the status details) from what Nest hands its callback.
    return throwError(() => ({ code: error.code, message: error.message }));
  }

  toRpcException(exception: unknown): RpcException {
    if (exception instanceof DomainError) {
      return new RpcException({ code: exception.code, message: exception.message });
    }
    if (exception instanceof RpcException && isStatusError(exception.getError())) return exception;
    this.logger.error({ err: exception }, 'unexpected error in a gRPC call');
    return new RpcException({ code: status.INTERNAL, message: 'internal error' });
  }
}
