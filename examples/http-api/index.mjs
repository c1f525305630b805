// An HTTP-triggered function in the AWS Lambda (function URL) shape: the event is the request, the
// return value { statusCode, headers, body } is the response.
const json = (statusCode, body) => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export async function handler(event) {
  if (event.method === 'GET' && event.path === '/') {
    return json(200, { service: 'http-api', routes: ['GET /', 'GET /hello/:name', 'POST /echo'] });
  }
  const hello = /^\/hello\/([^/]+)$/.exec(event.path);
  if (event.method === 'GET' && hello) {
    return json(200, { message: `hello, ${decodeURIComponent(hello[1])}`, query: event.query });
  }
  if (event.method === 'POST' && event.path === '/echo') {
    const body = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString() : event.body;
    return {
      statusCode: 200,
      headers: { 'content-type': event.headers['content-type'] ?? 'text/plain' },
      body: body ?? '',
    };
  }
  return json(404, { error: `no route ${event.method} ${event.path}` });
}
