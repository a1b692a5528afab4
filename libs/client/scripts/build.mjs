// Builds the package twice from the same sources: ES modules for `import`, CommonJS for
// `require` (NestJS 10/11 services), each with its declarations; and ships the API's .proto files and the license.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(join(pkg, 'dist'), { recursive: true, force: true });
for (const config of ['tsconfig.esm.json', 'tsconfig.cjs.json'])
  execFileSync(process.execPath, [tsc, '-p', join(pkg, config)], { stdio: 'inherit' });
// The package is "type": "module"; this marks the CommonJS half as what it is.
writeFileSync(join(pkg, 'dist/cjs/package.json'), '{ "type": "commonjs" }\n');

rmSync(join(pkg, 'proto'), { recursive: true, force: true });
mkdirSync(join(pkg, 'proto'));
cpSync(join(pkg, '../../proto/quorumlock'), join(pkg, 'proto/quorumlock'), { recursive: true });
cpSync(join(pkg, '../../LICENSE'), join(pkg, 'LICENSE'));
