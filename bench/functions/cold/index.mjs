// A trivial function; with keepAliveMs 0 every invocation after an eviction is a cold start.
export default async (event) => ({ ok: true, n: event.n ?? 0 });
