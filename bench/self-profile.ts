// With --profile the load generator profiles itself too (the servers run under --cpu-prof): a
// client-bound run looks like a slow server unless the client's own CPU time is on record.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export async function startSelfProfile(dir: string): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'loadgen.cpuprofile'), JSON.stringify(profile));
  };
}
