/**
 * What an HTTP-triggered handler returns, as the response to send: the shape AWS Lambda's function
 * URLs take (`{ statusCode, headers, cookies, body, isBase64Encoded }`), a string (text/plain),
 * null (204) or any other JSON value (application/json). Checked before anything is written, so a
 * response Node would refuse (a header name with a space, a value with a line break, a status of
 * 700) is the function's error, named, instead of the server's.
 */

/** A response ready to write. */
export interface HttpResponse {
  status: number;
  /** Header names as given, each with one value or several (sent as repeated headers). */
  headers: [name: string, value: string | string[]][];
  body: string | Buffer;
  /** The content type to send when the headers name none. */
  defaultType: string | undefined;
}

/**
 * Headers about the connection and the message's framing, which the server sets for the response it
 * writes: a function's own (a `transfer-encoding` beside the real `content-length`) would make the
 * response unreadable to the client or a proxy. Dropped, as Lambda function URLs drop them.
 */
const PLATFORM_HEADERS = new Set([
  'connection',
  'content-length',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** RFC 9110 token: what a header name may be. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What a header value may not hold (as Node checks: control characters but tab). */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

type HeaderValue = string | number | boolean;
const isHeaderValue = (v: unknown): v is HeaderValue =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** `result` as the response to send, or a sentence saying why it cannot be one. */
export function toHttpResponse(result: unknown): HttpResponse | string {
  if (result === null || result === undefined)
    return { status: 204, headers: [], body: '', defaultType: undefined };
  if (typeof result === 'string')
    return { status: 200, headers: [], body: result, defaultType: 'text/plain; charset=utf-8' };
  // An object with a numeric statusCode is a response; any other value is the body, as JSON.
  if (typeof result !== 'object' || typeof (result as { statusCode?: unknown }).statusCode !== 'number')
    return {
      status: 200,
      headers: [],
      body: JSON.stringify(result),
      defaultType: 'application/json; charset=utf-8',
    };
  const r = result as {
    statusCode: unknown;
    headers?: unknown;
    cookies?: unknown;
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  // 1xx are interim answers: the client would wait for a final one that never comes.
  if (!(Number.isInteger(r.statusCode) && (r.statusCode as number) >= 200 && (r.statusCode as number) <= 599))
    return `statusCode ${JSON.stringify(r.statusCode)} is not a final HTTP status (a whole number from 200 to 599)`;
  const headers: HttpResponse['headers'] = [];
  if (r.headers !== undefined && r.headers !== null) {
    if (typeof r.headers !== 'object' || Array.isArray(r.headers))
      return 'headers must be an object of header names to values';
    for (const [name, value] of Object.entries(r.headers)) {
      if (value === undefined || value === null) continue;
      if (!TOKEN.test(name)) return `header name ${JSON.stringify(name)} is not a valid HTTP header name`;
      if (PLATFORM_HEADERS.has(name.toLowerCase())) continue;
      const values = Array.isArray(value) ? (value as unknown[]) : [value];
      if (!values.every(isHeaderValue))
        return `header ${JSON.stringify(name)} must be a string, a number or an array of them`;
      const text = values.map(String);
      const bad = text.find((v) => BAD_VALUE.test(v));
      if (bad !== undefined)
        return `header ${JSON.stringify(name)} has a value with a character HTTP headers cannot carry (a line break, a control character, or one outside Latin-1): ${JSON.stringify(bad.slice(0, 80))}`;
      headers.push([name, Array.isArray(value) ? text : text[0]!]);
    }
  }
  if (r.cookies !== undefined && r.cookies !== null) {
    if (!Array.isArray(r.cookies) || !r.cookies.every((c) => typeof c === 'string'))
      return 'cookies must be an array of Set-Cookie strings';
    const bad = (r.cookies as string[]).find((c) => BAD_VALUE.test(c));
    if (bad !== undefined)
      return `a cookie has a character HTTP headers cannot carry (a line break, a control character, or one outside Latin-1): ${JSON.stringify(bad.slice(0, 80))}`;
    if (r.cookies.length > 0) headers.push(['set-cookie', r.cookies as string[]]);
  }
  const status = r.statusCode as number;
  if (r.body === undefined || r.body === null) return { status, headers, body: '', defaultType: undefined };
  if (typeof r.body === 'string') {
    if (r.isBase64Encoded === true)
      return { status, headers, body: Buffer.from(r.body, 'base64'), defaultType: undefined };
    return { status, headers, body: r.body, defaultType: 'text/plain; charset=utf-8' };
  }
  if (r.isBase64Encoded === true) return 'isBase64Encoded is true but body is not a string';
  return { status, headers, body: JSON.stringify(r.body), defaultType: 'application/json; charset=utf-8' };
}
