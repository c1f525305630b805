/** Instances by tier (rows) and state (columns). */
import type { InstanceState, Tick } from '../feed';

const STATES: { key: InstanceState; label: string }[] = [
  { key: 'starting', label: 'starting' },
  { key: 'idle', label: 'warm-idle' },
  { key: 'busy', label: 'busy' },
  { key: 'evicting', label: 'evicting' },
];

const TIERS = ['process', 'isolate', 'container'];

export function InstancesTable(props: { counts: Tick['instances'] | undefined }) {
  const tiers = [...new Set([...TIERS, ...Object.keys(props.counts ?? {})])];
  return (
    <div class="table-wrap">
      <table class="instances" data-testid="instances-table">
        <thead>
          <tr>
            <th scope="col">tier</th>
            {STATES.map((s) => (
              <th scope="col" class="num">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {tiers.map((tier) => (
            <tr data-tier={tier}>
              <th scope="row">{tier}</th>
              {STATES.map((s) => (
                <td class="num" data-state={s.key}>
                  {props.counts ? (props.counts[tier]?.[s.key] ?? 0) : '…'}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
