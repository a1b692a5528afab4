// A client host in a child process, so that a test can freeze it (SIGSTOP) like a host that
// died without closing its connections. Usage: node dist/test/support/waiting-client.js ADDRESS
// JSON-ACQUIRE-REQUEST. Prints "sent" once the Acquire is on its way, then its outcome.
import { ApiClient } from './grpc-clients.js';

const [address, body] = process.argv.slice(2);
if (!address || !body) {
  process.stderr.write('usage: waiting-client ADDRESS JSON-ACQUIRE-REQUEST\n');
  process.exit(2);
}
const api = new ApiClient(address);
api
  .call(api.lock, 'Acquire', JSON.parse(body) as object, 600_000)
  .then(
    (r) => process.stdout.write(`answered ${JSON.stringify(r)}\n`),
    (e: Error) => process.stdout.write(`failed ${e.message}\n`),
  )
  .finally(() => api.close());
process.stdout.write('sent\n');
