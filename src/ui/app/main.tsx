/**
 * The Kindling dashboard: a Preact single-page app served at /ui. It signs in with an API key, then
 * reads the REST API (with the key) and the live feed (SSE, with a short-lived token).
 */
import { Component, render, type ComponentChildren } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ApiError } from './api';
import { request, type Principal } from './api';
import { Feed } from './feed';
import { BASE, interceptLinks, useRoute } from './router';
import { KEY_STORAGE, SessionContext, useFeed, useSession, type Session } from './session';
import { Cluster } from './views/Cluster';
import { FunctionView } from './views/FunctionView';
import { Overview } from './views/Overview';
import { Policies } from './views/Policies';
import { SignIn } from './views/SignIn';
import './styles.css';

/** Checks a key with the platform; a clear message when it is refused. */
async function whoami(key: string): Promise<Principal> {
  try {
    return (await request<Principal>(key, 'GET', '/v1/whoami')).body;
  } catch (err) {
    const e = err as ApiError;
    if (e.status === 401)
      throw new Error(
        `This API key was not accepted (${e.message}). Check it, or ask an admin for a new one.`,
      );
    throw e;
  }
}

function App() {
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [checking, setChecking] = useState(() => sessionStorage.getItem(KEY_STORAGE) !== null);

  const signOut = (reason?: string) => {
    sessionStorage.removeItem(KEY_STORAGE);
    setSession((s) => {
      s?.feed.stop();
      return undefined;
    });
    setMessage(reason);
  };

  const signIn = async (key: string) => {
    const principal = await whoami(key);
    sessionStorage.setItem(KEY_STORAGE, key);
    const feed = new Feed(key, (err) =>
      signOut(`Signed out: the platform no longer accepts this key (${err.message}).`),
    );
    void feed.start();
    setMessage(undefined);
    setSession({ key, principal, feed, signOut });
  };

  // A key kept from earlier in this tab: check it again before showing anything.
  useEffect(() => {
    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved === null) return;
    signIn(saved)
      .catch((err: Error) => signOut(`Your saved session ended: ${err.message}`))
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="boot">Checking your session…</p>;
  if (!session) return <SignIn onSubmit={signIn} message={message} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

/** Shows a message instead of a blank page if a view fails to render (a bug, or data it did not expect). */
class ErrorBoundary extends Component<{ children: ComponentChildren; resetKey: string }, { error?: Error }> {
  override state: { error?: Error } = {};
  override componentDidCatch(error: Error) {
    this.setState({ error });
  }
  override componentDidUpdate(prev: { resetKey: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: undefined });
  }
  override render() {
    if (this.state.error)
      return (
        <section class="card empty" role="alert">
          <h1>This view failed</h1>
          <p>
            {this.state.error.message}. Other views still work: go to the <a href={`${BASE}/`}>overview</a>,
            or reload the page.
          </p>
        </section>
      );
    return this.props.children;
  }
}

const NAV = [
  { href: `${BASE}/`, label: 'Overview', match: (s: string[]) => s.length === 0 || s[0] === 'functions' },
  { href: `${BASE}/policies`, label: 'Policies', match: (s: string[]) => s[0] === 'policies' },
  { href: `${BASE}/cluster`, label: 'Cluster', match: (s: string[]) => s[0] === 'cluster' },
];

function Shell() {
  const session = useSession();
  const route = useRoute();
  const s = route.segments;
  const path = s.join('/');
  // A new view: say so in the title, and move focus to it (keyboard and screen-reader users start there).
  const first = useRef(true);
  useEffect(() => {
    document.title = `${s[0] === 'functions' && s[1] ? s[1] : (s[0] ?? 'overview')} · Kindling`;
    if (first.current) first.current = false;
    else document.getElementById('main')?.focus({ preventScroll: true });
  }, [path]);
  let view;
  if (s.length === 0) view = <Overview />;
  else if (s[0] === 'functions' && s.length === 2) view = <FunctionView name={s[1]!} route={route} />;
  else if (s[0] === 'cluster' && s.length === 1) view = <Cluster />;
  else if (s[0] === 'policies' && s.length === 1) view = <Policies route={route} />;
  else
    view = (
      <section class="card empty" role="alert">
        <h1>No such page</h1>
        <p>
          There is nothing at <code>{location.pathname}</code>. Go to the <a href={`${BASE}/`}>overview</a>.
        </p>
      </section>
    );
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={`${BASE}/`}>
          <span class="logo" aria-hidden="true">
            ▲
          </span>{' '}
          Kindling
        </a>
        <nav aria-label="Views">
          {NAV.map((n) => (
            <a href={n.href} aria-current={n.match(s) ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <div class="who">
          <FeedStatusBadge />
          <span class="principal" title="the tenant of this API key">
            {session.principal.tenant}
            {session.principal.role === 'admin' ? ' (admin)' : ''}
          </span>
          <button type="button" onClick={() => session.signOut('Signed out.')}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ErrorBoundary resetKey={path}>{view}</ErrorBoundary>
      </main>
    </>
  );
}

function FeedStatusBadge() {
  const state = useFeed();
  const label = useMemo(
    () =>
      ({ connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', stopped: 'stopped' })[
        state.status
      ],
    [state.status],
  );
  return (
    <span
      class={`feed-status ${state.status}`}
      data-tick={state.last?.t}
      title={state.problem ?? 'live updates over Server-Sent Events'}
      aria-live="polite"
    >
      <span class="dot" aria-hidden="true" />
      {label}
    </span>
  );
}

const root = document.getElementById('app')!;
// The "Loading…" line the page shows before the script runs.
root.textContent = '';
interceptLinks(root);
render(<App />, root);
