/**
 * What `kindling up` suggests once it serves: commands that work as printed. They name only the
 * example functions it deployed, and carry `KINDLING_DATA` when the data directory is not the one the
 * CLI looks in by default.
 */
import { basename, join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR } from './endpoint.js';

export interface StartHintsInput {
  /** The platform's URL. */
  url: string;
  /** The data directory, absolute. */
  dataDir: string;
  /** The example function directories that were deployed. */
  examples: string[];
  /** The working directory the CLI would resolve its default data directory from. */
  cwd?: string;
}

/** A word as the shell reads it: quoted when it holds anything but safe characters. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The hint lines, indented, to print under "Kindling is up at …". */
export function startHints(input: StartHintsInput): string[] {
  // The CLI finds a local platform through its data directory (endpoint.json, admin-key): name it
  // unless it is the default one, relative to where the CLI would run.
  const cli =
    resolve(input.cwd ?? process.cwd(), DEFAULT_DATA_DIR) === input.dataDir
      ? 'npx kindling'
      : `KINDLING_DATA=${shellWord(input.dataDir)} npx kindling`;
  const names = new Set(input.examples.map((dir) => basename(dir)));
  const lines: string[] = [];
  if (names.has('hello')) lines.push(`${cli} invoke hello --data '{"name":"you"}'`);
  if (names.has('http-api'))
    lines.push(
      `curl -H "Authorization: Bearer $(cat ${shellWord(join(input.dataDir, 'admin-key'))})" ${input.url}/fn/http-api/`,
    );
  if (lines.length > 0) return lines.map((line, i) => `  ${i === 0 ? 'try: ' : '     '} ${line}`);
  return [
    `  deploy:  ${cli} deploy DIR --name NAME   (DIR holds the entry module, e.g. index.ts, and optionally kindling.json)`,
    `  invoke:  ${cli} invoke NAME --data '{}'`,
  ];
}
