// A scratch copy of the working tree (committed or not, ignored files left out, node_modules
// linked), for tools that plant a bug in a copy and run a suite against it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export function copyTree(root: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'quorumlock-mutant-'));
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], {
    cwd: root,
    maxBuffer: 64 << 20,
  })
    .toString()
    .split('\0')
    .filter((f) => f && existsSync(join(root, f)));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(root, f), join(dir, f));
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

export function removeTree(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Runs a command in dir; null if it succeeded, else its output. */
export function attempt(dir: string, cmd: string, args: string[]): string | null {
  try {
    execFileSync(cmd, args, { cwd: dir, stdio: 'pipe', maxBuffer: 64 << 20 });
    return null;
  } catch (e) {
    const x = e as { stdout?: Buffer; stderr?: Buffer; message: string };
    return `${x.stdout?.toString() ?? ''}${x.stderr?.toString() ?? ''}`.trim() || x.message;
  }
}

/** Applies a patch and builds the copy; null if both worked, else why not. */
export function patchAndBuild(dir: string, patch: string | null): string | null {
  if (patch) {
    const bad = attempt(dir, 'git', ['apply', '--whitespace=nowarn', patch]);
    if (bad) return `patch does not apply (regenerate it from its header): ${bad}`;
  }
  const tsc = join(dir, 'node_modules/typescript/bin/tsc');
  const bad = attempt(dir, process.execPath, [tsc, '-p', 'tsconfig.build.json']);
  return bad ? `build failed: ${bad}` : null;
}
