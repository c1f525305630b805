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
    // A binary body arrives base64-encoded (isBase64Encoded); handing it back the same way, flag and
    // all, returns the very bytes. Decoding it to a string would turn invalid UTF-8 into U+FFFD.
    return {
      statusCode: 200,
      headers: { 'content-type': event.headers['content-type'] ?? 'text/plain' },
      body: event.body ?? '',
      isBase64Encoded: event.isBase64Encoded,
    };
  }
  return json(404, { error: `no route ${event.method} ${event.path}` });
}
