import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

/** Runs `server <args>` against the database of the given Playwright project's server. */
export function serverCli(project: string, args: string[], stdin?: string): string {
  const envFile = readFileSync(path.join(root, 'end2end', '.state', `${project}.env`), 'utf8');
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', RUST_LOG: 'warn' };
  for (const line of envFile.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  const target = process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
  return execFileSync(path.join(target, 'debug', 'server'), args, { env, input: stdin ?? '', encoding: 'utf8' });
}
