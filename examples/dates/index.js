// A named `handler` export, with a dependency from npm.
import dayjs from 'dayjs';

export async function handler(event) {
  const from = dayjs(event.from ?? '2026-01-01');
  const days = Number(event.days ?? 30);
  return {
    from: from.format('YYYY-MM-DD'),
    plus: days,
    to: from.add(days, 'day').format('dddd, D MMMM YYYY'),
  };
}
