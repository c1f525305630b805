/** The invoke form: a JSON payload, sync or async, optional alias/version; reports the invocation it made. */
import { useState } from 'preact/hooks';
import { ApiError } from '../api';
import { useSession } from '../session';
import { ErrorPanel } from './parts';

export interface InvokeOutcome {
  id: string;
  mode: 'sync' | 'async';
  status: number;
  /** The sync response body (the result, or the error). */
  body?: unknown;
}

/** Checks a payload; the message says where the JSON is wrong. */
export function parsePayload(text: string): { ok: true; value: string } | { ok: false; message: string } {
  if (text.trim() === '') return { ok: true, value: '{}' };
  try {
    JSON.parse(text);
    return { ok: true, value: text };
  } catch (err) {
    return {
      ok: false,
      message: `The payload is not valid JSON: ${(err as Error).message}. Nothing was sent.`,
    };
  }
}

export function InvokeForm(props: {
  name: string;
  tenant?: string;
  onInvoked(outcome: InvokeOutcome): void;
}) {
  const session = useSession();
  const [payload, setPayload] = useState('{\n  "name": "dashboard"\n}');
  const [mode, setMode] = useState<'sync' | 'async'>('sync');
  const [qualifier, setQualifier] = useState('');
  const [invalid, setInvalid] = useState<string | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const parsed = parsePayload(payload);
    if (!parsed.ok) {
      setInvalid(parsed.message);
      return;
    }
    setInvalid(undefined);
    setError(undefined);
    setBusy(true);
    const q = new URLSearchParams();
    if (mode === 'async') q.set('mode', 'async');
    if (qualifier.trim()) q.set('qualifier', qualifier.trim());
    if (props.tenant) q.set('tenant', props.tenant);
    const qs = q.toString();
    try {
      let res: Response;
      try {
        res = await fetch(`/v1/functions/${encodeURIComponent(props.name)}/invoke${qs ? `?${qs}` : ''}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${session.key}`, 'content-type': 'application/json' },
          body: parsed.value,
        });
      } catch (err) {
        throw new ApiError(0, 'KINDLING_NETWORK', `cannot reach the platform: ${(err as Error).message}`);
      }
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // a non-JSON answer is shown as text
      }
      const id =
        res.headers.get('x-kindling-invocation-id') ??
        (body as { id?: string; invocationId?: string } | null)?.id;
      if (!id) {
        // Refused before it ran (unknown function, bad qualifier, queue full…): no invocation to show.
        const err = (body as { error?: { code: string; message: string } } | null)?.error;
        throw new ApiError(
          res.status,
          err?.code ?? `HTTP_${res.status}`,
          err?.message ?? `HTTP ${res.status}`,
        );
      }
      props.onInvoked({ id, mode, status: res.status, body });
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="invoke-form" onSubmit={submit} aria-labelledby="invoke-heading">
      <h2 id="invoke-heading">Invoke</h2>
      <label for="payload">Payload (JSON event)</label>
      <textarea
        id="payload"
        rows={6}
        spellcheck={false}
        value={payload}
        aria-invalid={invalid ? 'true' : undefined}
        aria-describedby="payload-error"
        onInput={(e) => {
          setPayload((e.target as HTMLTextAreaElement).value);
          if (invalid) setInvalid(undefined);
        }}
      />
      <p id="payload-error" class="error-text" role="alert" data-testid="payload-error">
        {invalid ?? ''}
      </p>
      <div class="form-row">
        <fieldset>
          <legend>Mode</legend>
          <label>
            <input
              type="radio"
              name="mode"
              value="sync"
              checked={mode === 'sync'}
              onChange={() => setMode('sync')}
            />{' '}
            sync
          </label>
          <label>
            <input
              type="radio"
              name="mode"
              value="async"
              checked={mode === 'async'}
              onChange={() => setMode('async')}
            />{' '}
            async
          </label>
        </fieldset>
        <label class="qualifier">
          Alias or version
          <input
            type="text"
            placeholder="latest"
            value={qualifier}
            onInput={(e) => setQualifier((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Invoking…' : 'Invoke'}
        </button>
      </div>
      {error && <ErrorPanel error={error} title="The invocation was refused" />}
    </form>
  );
}
