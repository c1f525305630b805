// A second, architectural floor for warm invocations: a bare Node HTTP server that hands each JSON
// event to one child process over a socketpair (length-prefixed JSON, as the process tier does) and
// answers with what comes back. It is the least any gateway-plus-process design can cost: no auth,
// no records, no metrics, no timeouts, no log capture.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';

const CHILD = `
const net = require('node:net');
const s = new net.Socket({ fd: 3, readable: true, writable: true });
let buf = Buffer.alloc(0);
s.on('data', (c) => {
  buf = Buffer.concat([buf, c]);
  while (buf.length >= 4) {
    const n = buf.readUInt32BE(0);
    if (buf.length < 4 + n) break;
    const m = JSON.parse(buf.subarray(4, 4 + n));
    buf = buf.subarray(4 + n);
    const out = Buffer.from(JSON.stringify({ id: m.id, result: m.event }));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(out.length);
    s.write(Buffer.concat([head, out]));
  }
});
s.on('end', () => process.exit(0));
`;

const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
const channel = child.stdio[3];
const pending = new Map();
let seq = 0;
let buf = Buffer.alloc(0);
channel.on('data', (c) => {
  buf = Buffer.concat([buf, c]);
  while (buf.length >= 4) {
    const n = buf.readUInt32BE(0);
    if (buf.length < 4 + n) break;
    const m = JSON.parse(buf.subarray(4, 4 + n));
    buf = buf.subarray(4 + n);
    pending.get(m.id)?.(m.result);
    pending.delete(m.id);
  }
});

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const event = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    const id = ++seq;
    pending.set(id, (result) => {
      const body = JSON.stringify(result);
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
    const out = Buffer.from(JSON.stringify({ id, event }));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(out.length);
    channel.write(Buffer.concat([head, out]));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => {
  child.kill('SIGKILL');
  process.exit(0);
});
