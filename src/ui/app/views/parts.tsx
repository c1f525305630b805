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

/** A table head; a column given as `[label, 'num']` is right-aligned (numbers). */
export function Head(props: { cols: (string | [string, 'num'])[] }) {
  return (
    <thead>
      <tr>
        {props.cols.map((c) =>
          typeof c === 'string' ? (
            <th scope="col">{c}</th>
          ) : (
            <th scope="col" class="num">
              {c[0]}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}

/** Previous / next over pages of `size` rows; says which rows are shown. */
export function Pager(props: {
  label: string;
  page: number;
  size: number;
  total: number;
  onPage(page: number): void;
}) {
  const { page, size, total } = props;
  const pages = Math.max(1, Math.ceil(total / size));
  return (
    <nav class="pager" aria-label={props.label}>
      <button type="button" disabled={page === 0} onClick={() => props.onPage(page - 1)}>
        ← Previous
      </button>
      <span>
        {total === 0 ? 0 : page * size + 1}–{Math.min(total, (page + 1) * size)} of {total}
      </span>
      <button type="button" disabled={page >= pages - 1} onClick={() => props.onPage(page + 1)}>
        Next →
      </button>
    </nav>
  );
}
