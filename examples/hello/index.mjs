// An ES module with a default export: the shape Cloudflare Workers and most new code use.
export default async function hello(event, context) {
  console.log(`greeting ${event.name ?? 'world'}`);
  return { message: `hello, ${event.name ?? 'world'}`, requestId: context.requestId };
}
