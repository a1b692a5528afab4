// The planted bugs prove that the simulator's and the chaos suite's checks can fail. A patch
// that no longer applies proves nothing (`npm run sim:mutants` reports it "broken", and is not
// in CI), so the code and its planted bugs must move together: regenerate a patch from its
// header when a change to the code breaks it.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const patches = ['test/sim/mutants', 'test/chaos/mutants'].flatMap((dir) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.patch'))
    .map((f) => join(dir, f)),
);

describe('planted bugs', () => {
  test('there are some in both suites', () => {
    expect(patches.filter((p) => p.startsWith('test/sim/')).length).toBeGreaterThan(0);
    expect(patches.filter((p) => p.startsWith('test/chaos/')).length).toBeGreaterThan(0);
  });

  test.each(patches)('%s still applies to the code', (patch) => {
    expect(() =>
      execFileSync('git', ['apply', '--check', patch], { cwd: ROOT, stdio: 'pipe' }),
    ).not.toThrow();
  });
});
