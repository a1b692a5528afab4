// Calls refused by authentication or authorization, counted on the node the client called.
import { Counter, type Registry } from 'prom-client';
import { ACTIONS, type Action } from '../security/auth-config.js';
import { PREFIX } from './prom.js';

export class AuthMetrics {
  private readonly denied: Counter<'action'>;

  constructor(register: Registry) {
    this.denied = new Counter({
      name: `${PREFIX}auth_denied_total`,
      help: 'Calls refused UNAUTHENTICATED or PERMISSION_DENIED, by the action they asked for.',
      labelNames: ['action'],
      registers: [register],
    });
    for (const action of ACTIONS) this.denied.inc({ action }, 0);
  }

  onDenied(action: Action): void {
    this.denied.inc({ action });
  }
}
