// Projects outside the repository that install @quorumlock/client from its packed tarball, the
// way a user's service does: written to a temporary directory, `npm install`ed from the
// registry (the npm cache makes repeats fast), type-checked and built with TypeScript.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const INSTALL_MS = 300_000;

/** Runs a command; rejects with its output when it fails. */
export function run(
  cmd: string,
  args: readonly string[],
  o: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: o.cwd, env: o.env ?? process.env, timeout: o.timeoutMs ?? 60_000, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`),
          );
        else resolve(stdout);
      },
    );
  });
}

/** `npm pack` of the built SDK workspace into dir: the tarball's path. */
export async function packClient(dir: string): Promise<string> {
  await run('npm', ['pack', '--silent', '--pack-destination', dir, '-w', '@quorumlock/client'], {
    cwd: REPO,
  });
  const tgz = readdirSync(dir).find(
    (f) => f.startsWith('quorumlock-client-') && f.endsWith('.tgz'),
  );
  if (tgz === undefined) throw new Error(`npm pack wrote no tarball to ${dir}`);
  return join(dir, tgz);
}

export interface ProjectSpec {
  /** "module" for ES modules; CommonJS otherwise. */
  readonly type?: 'module';
  readonly dependencies: Readonly<Record<string, string>>;
  /** tsconfig compilerOptions; none: no TypeScript. */
  readonly compilerOptions?: Readonly<Record<string, unknown>>;
  /** Files to copy in: destination (relative) -> source path. */
  readonly files: Readonly<Record<string, string>>;
}

/** Writes and installs a project; resolves with its directory. */
export async function makeProject(dir: string, spec: ProjectSpec): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const pkg = {
    name: 'consumer',
    private: true,
    ...(spec.type ? { type: spec.type } : {}),
    dependencies: spec.dependencies,
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  for (const [to, from] of Object.entries(spec.files)) {
    mkdirSync(join(dir, to, '..'), { recursive: true });
    cpSync(from, join(dir, to));
  }
  if (spec.compilerOptions) {
    const tsconfig = {
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        rootDir: 'src',
        outDir: 'out',
        ...spec.compilerOptions,
      },
      include: ['src'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  }
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd: dir,
    timeoutMs: INSTALL_MS,
  });
  return dir;
}

/** Type-checks and compiles a project with TypeScript (the repository's pinned compiler). */
export function tsc(dir: string): Promise<string> {
  return run(process.execPath, [TSC, '-p', dir], { cwd: dir, timeoutMs: 120_000 });
}
