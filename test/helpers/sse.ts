/** Reading Server-Sent Events in tests. */

/** An event as the stream sent it, its data parsed. */
export interface SseEvent {
  event: string;
  data: any;
}

/** Reads Server-Sent Events from a response until `until` returns true for the events so far. */
export async function readEvents(res: Response, until: (events: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return events;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
      if (until(events)) return events;
    }
  } finally {
    await reader.cancel();
  }
}

/** Opens `path` (an event stream) on `url` with a feed token bought with `key`. */
export async function openStream(url: string, key: string, path: string): Promise<Response> {
  const res = await fetch(`${url}/v1/events/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
  });
  const { token } = (await res.json()) as { token: string };
  return fetch(`${url}${path}?token=${encodeURIComponent(token)}`);
}
