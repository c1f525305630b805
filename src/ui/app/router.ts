/** Paths under /ui, read from and written to the address bar (History API), so every view has a URL. */
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/ui';

/** A parsed location: the path under /ui split in segments, and the query. */
export interface Route {
  segments: string[];
  query: URLSearchParams;
}

function current(): Route {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '/';
  let segments: string[];
  try {
    segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    // A malformed %-escape: treat it as a path nothing matches, so the page says so.
    segments = ['(malformed address)'];
  }
  return { segments, query: new URLSearchParams(location.search) };
}

const listeners = new Set<() => void>();

/** Goes to `href` (a path under /ui) without reloading. */
export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
}

/** The current route; re-renders on navigation and on back/forward. */
export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return route;
}

/** Makes plain left-clicks on in-app links navigate without a reload (other clicks behave as links do). */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest('a');
    if (!a || a.target || a.origin !== location.origin || !a.pathname.startsWith(BASE)) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
}

/** A link to a function's view (with `?tenant=` for an admin looking at another tenant). */
export function functionHref(name: string, tenant?: string, extra = ''): string {
  const q = new URLSearchParams();
  if (tenant) q.set('tenant', tenant);
  if (extra) for (const [k, v] of new URLSearchParams(extra)) q.set(k, v);
  const qs = q.toString();
  return `${BASE}/functions/${encodeURIComponent(name)}${qs ? `?${qs}` : ''}`;
}
