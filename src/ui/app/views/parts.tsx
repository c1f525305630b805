/** Small pieces the views share. */
import type { ApiError } from '../api';

/** A figure with a label; fixed size, so a value arriving does not move anything. */
export function Stat(props: { label: string; value: string; testid?: string; hint?: string }) {
  return (
    <div class="stat" title={props.hint}>
      <div class="stat-value" data-testid={props.testid}>
        {props.value}
      </div>
      <div class="stat-label">{props.label}</div>
    </div>
  );
}

/** An API error as a message that says what happened and, from the API, what to do. */
export function ErrorPanel(props: { error: Error; title?: string }) {
  const code = (props.error as Partial<ApiError>).code;
  return (
    <div class="error-panel" role="alert">
      <strong>{props.title ?? 'Something went wrong'}</strong>
      <p>
        {props.error.message}
        {code ? <span class="code"> ({code})</span> : null}
      </p>
    </div>
  );
}

/** A cold/warm badge; cold ones name their start path. */
export function ColdBadge(props: { cold: boolean | undefined; startPath?: string }) {
  if (props.cold === undefined) return <span class="badge">—</span>;
  return props.cold ? (
    <span class="badge cold" data-cold="1">
      cold{props.startPath ? ` · ${props.startPath}` : ''}
    </span>
  ) : (
    <span class="badge warm" data-cold="0">
      warm
    </span>
  );
}
