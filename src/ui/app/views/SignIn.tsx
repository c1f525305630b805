import { useState } from 'preact/hooks';

/** The sign-in form: an API key, checked against the platform before anything is shown. */
export function SignIn(props: { onSubmit(key: string): Promise<void>; message?: string }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = async (e: Event) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (!trimmed) {
      setError(
        'Enter an API key. The admin key is in .kindling/admin-key; a tenant key comes from `kindling tenant create`.',
      );
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await props.onSubmit(trimmed);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  const shown = error ?? props.message;
  return (
    <main id="main" class="signin">
      <form class="card signin-card" onSubmit={submit} aria-describedby="signin-help">
        <h1>
          <span class="logo" aria-hidden="true">
            ▲
          </span>{' '}
          Kindling
        </h1>
        <p id="signin-help" class="muted">
          Sign in with an API key. You see your tenant's functions; an admin key sees every tenant. The key
          stays in this browser tab only.
        </p>
        <label for="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autocomplete="current-password"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          aria-invalid={shown ? 'true' : undefined}
          aria-errormessage={shown ? 'signin-error' : undefined}
        />
        <p id="signin-error" class="error-text" role="alert">
          {shown ?? ''}
        </p>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">
          Running locally? <code>cat .kindling/admin-key</code> prints the admin key.
        </p>
      </form>
    </main>
  );
}
