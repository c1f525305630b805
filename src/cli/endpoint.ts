/**
 * How the CLI finds the platform: `--url`/`KINDLING_URL` and `KINDLING_API_KEY` first, then the local
 * data directory (`--data`/`KINDLING_DATA`, default `.kindling`) that `kindling up` writes its
 * address and admin key into.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dataPaths } from '../platform.js';

export const DEFAULT_DATA_DIR = '.kindling';
export const DEFAULT_PORT = 8080;

export interface Endpoint {
  url: string;
  key: string | undefined;
  /** Where the key came from, for error messages. */
  keySource: string;
}

export function resolveEndpoint(
  flags: { url?: string; data?: string },
  env: NodeJS.ProcessEnv = process.env,
): Endpoint {
  const paths = dataPaths(flags.data ?? env.KINDLING_DATA ?? DEFAULT_DATA_DIR);
  let url = flags.url ?? env.KINDLING_URL;
  if (!url && existsSync(paths.endpoint)) {
    url = (JSON.parse(readFileSync(paths.endpoint, 'utf8')) as { url?: string }).url;
  }
  url ??= `http://127.0.0.1:${env.KINDLING_PORT ?? DEFAULT_PORT}`;
  if (env.KINDLING_API_KEY)
    return { url: url.replace(/\/+$/, ''), key: env.KINDLING_API_KEY, keySource: 'KINDLING_API_KEY' };
  const key = existsSync(paths.adminKey) ? readFileSync(paths.adminKey, 'utf8').trim() : undefined;
  return { url: url.replace(/\/+$/, ''), key, keySource: paths.adminKey };
}
