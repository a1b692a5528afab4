// Reading the deploy files in tests, and checking an environment against the server's schema.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import {
  CONFIG_ENV_VARS,
  loadServerConfig,
  parseAddress,
  type ServerConfig,
} from '../../apps/lock-service/src/config/config.js';

export const ROOT = process.cwd();
export const DEPLOY = resolve(ROOT, 'deploy');

export function readYaml<T>(path: string): T {
  return parse(readFileSync(resolve(DEPLOY, path), 'utf8')) as T;
}

/** Every document of every YAML file under dir, with the file it came from. */
export function yamlDocuments(dir: string): { file: string; doc: K8sObject }[] {
  const out: { file: string; doc: K8sObject }[] = [];
  for (const file of readdirSync(resolve(DEPLOY, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const docs = parseAllDocuments(readFileSync(resolve(DEPLOY, dir, file), 'utf8'));
    for (const d of docs) {
      const [error] = d.errors;
      if (error) throw new Error(`${file}: ${error.message}`);
      const doc = d.toJS() as K8sObject | null;
      if (doc !== null) out.push({ file, doc });
    }
  }
  return out;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Environment variables the server does not read: a typo there would be silently ignored. */
export function unknownVariables(env: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(env).filter((k) => !CONFIG_ENV_VARS.includes(k));
}

/** The server's own validation of a deployment's environment. */
export function configFrom(env: Readonly<Record<string, string>>): ServerConfig {
  return loadServerConfig({}, env);
}

/** The value, or a failure naming what the deployment files lack. */
export function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the deployment files have no ${what}`);
  return value;
}

export function portOf(address: string | undefined): number {
  const parsed = parseAddress(present(address, 'address'));
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed.port;
}

export function hostOf(address: string | undefined): string {
  const parsed = parseAddress(present(address, 'address'));
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed.host;
}

/** Whether every label of selector is on labels. */
export function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const want = Object.entries(selector ?? {});
  return want.length > 0 && want.every(([k, v]) => labels?.[k] === v);
}
