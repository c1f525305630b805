/**
 * The host half of the isolate's `URL`: parsing by Node's WHATWG parser, called synchronously from
 * the isolate. Returns plain parts (copied into the isolate), or null for an invalid URL.
 */

/** The parts of a URL the isolate's `URL` class keeps. */
export interface UrlParts {
  href: string;
  origin: string;
  protocol: string;
  username: string;
  password: string;
  host: string;
  hostname: string;
  port: string;
  pathname: string;
  search: string;
  hash: string;
}

const SETTABLE = new Set([
  'href',
  'protocol',
  'username',
  'password',
  'host',
  'hostname',
  'port',
  'pathname',
  'search',
  'hash',
]);

/**
 * Parses `input` against `base`; when `key` is given, then sets that part to `value` (URL setters
 * ignore invalid values, except `href`, which fails). Null when the URL is invalid.
 */
export function hostParseUrl(input: string, base?: string, key?: string, value?: string): UrlParts | null {
  let url: URL;
  try {
    url = new URL(input, base);
    if (key !== undefined && SETTABLE.has(key)) (url as unknown as Record<string, string>)[key] = value ?? '';
  } catch {
    return null; // an invalid URL: the isolate throws its own TypeError naming the input
  }
  const { href, origin, protocol, username, password, host, hostname, port, pathname, search, hash } = url;
  return { href, origin, protocol, username, password, host, hostname, port, pathname, search, hash };
}
