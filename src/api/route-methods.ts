/**
 * Which methods each route path accepts, so a request with the wrong method gets 405 and an `Allow`
 * header instead of the 404 that fastify gives any request it has no route for.
 */

/** One route pattern (`/v1/functions/:name/invoke`) as a matcher, with the methods registered on it. */
interface PathMethods {
  pattern: RegExp;
  methods: Set<string>;
}

/** fastify's path syntax as a regular expression: `:param` is one segment, `*` is the rest. */
function toPattern(url: string): RegExp {
  let source = '';
  for (const part of url.split(/(:[A-Za-z0-9_]+|\*)/)) {
    if (part === '*') source += '.*';
    else if (part.startsWith(':')) source += '[^/]+';
    else source += part.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The routes' methods by path, filled from fastify's `onRoute` hook. */
export class RouteMethods {
  private readonly byUrl = new Map<string, PathMethods>();

  /** Records that `url` (a fastify route path) accepts `method` (or each of `method`). */
  add(method: string | string[], url: string): void {
    let entry = this.byUrl.get(url);
    if (!entry) {
      entry = { pattern: toPattern(url), methods: new Set() };
      this.byUrl.set(url, entry);
    }
    for (const m of Array.isArray(method) ? method : [method]) entry.methods.add(m.toUpperCase());
  }

  /** The methods some route accepts for the concrete `path` (no query string), sorted; empty if none. */
  allowed(path: string): string[] {
    const out = new Set<string>();
    for (const { pattern, methods } of this.byUrl.values())
      if (pattern.test(path)) for (const m of methods) out.add(m);
    return [...out].sort();
  }
}
