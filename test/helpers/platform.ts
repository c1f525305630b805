/** Starts real platforms for end-to-end tests: in this process, or as a `kindling up` child process. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPlatform, type Platform } from '../../src/platform.js';

/** The repository root (tests run from dist/test/…). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliPath = join(repoRoot, 'bin', 'kindling.js');

export const fixture = (name: string) => join(repoRoot, 'test', 'fixtures', 'functions', name);
export const example = (name: string) => join(repoRoot, 'examples', name);

export function tempDir(prefix = 'kindling-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A response as tests look at it. */
export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Sends a request with an API key and parses JSON when it can. */
export async function call<T = any>(
  url: string,
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply<T>> {
  const res = await fetch(url + path, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** An in-process platform on a random port with the given function directories deployed. */
export async function startTestPlatform(
  deploy: string[],
  dataDir = tempDir(),
  stemCells = 0,
): Promise<
  Platform & {
    call: <T = any>(method: string, path: string, body?: unknown, key?: string) => Promise<Reply<T>>;
  }
> {
  // Stem cells off by default: most tests check the plain start path's phases.
  const platform = await startPlatform({ dataDir, port: 0, deploy, logLimitBytes: 64 * 1024, stemCells });
  return {
    ...platform,
    call: (method, path, body, key = platform.adminKey) => call(platform.url, key, method, path, body),
  };
}

/** `kindling up` as a child process; resolves once it serves. `output()` is its stdout and stderr so far. */
export async function startPlatformProcess(
  dataDir: string,
): Promise<{ child: ChildProcess; url: string; key: string; output: () => string }> {
  const endpoint = join(dataDir, 'endpoint.json');
  const child = spawn(process.execPath, [cliPath, 'up', '--port', '0', '--no-examples', '--data', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`kindling up exited with ${code}: ${output}`))),
  );
  const ready = (async () => {
    const end = Date.now() + 60_000;
    for (;;) {
      const url = existsSync(endpoint) ? readEndpointUrl(endpoint) : undefined;
      if (url) {
        const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return url;
      }
      if (Date.now() > end) throw new Error(`kindling up did not serve within 60 s: ${output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  try {
    const url = await Promise.race([ready, exited]);
    return {
      child,
      url,
      key: readFileSync(join(dataDir, 'admin-key'), 'utf8').trim(),
      output: () => output,
    };
  } catch (err) {
    // Never leave a platform behind: the caller has no handle on it to stop it.
    child.kill('SIGKILL');
    throw err;
  }
}

/** The URL in an endpoint file, or undefined while it is not (completely) written. */
function readEndpointUrl(path: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { url?: string }).url;
  } catch {
    return undefined;
  }
}

/** Runs the CLI and returns its exit status and output. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): { status: number; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [cliPath, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return { status: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** Polls until `check` returns a value, up to `ms` (a bound, not a timing assertion). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  ms = 30_000,
  what = 'condition',
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
