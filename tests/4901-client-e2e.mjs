// The JS client against a real streamerd with the demo service: echo,
// delay with progress, errors, cancel, status/list, resume after a
// dropped connection, a refused token. Skipped (TAP SKIP) while streamerd
// cannot start here (not built yet, no database).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { join, dirname } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { StreamerClient } from '../clients/js/streamer.mjs';
import { TestWebSocket } from './lib/fake_ws_server.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, process.env.ST_BUILD || 'build');
const SECRET = 'e2e-secret-' + process.pid;

function b64url(x) {
  return Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
}

/** An HS256 JWT (streamer-cli token when it exists, else signed here). */
function token(claims = {}, secret = SECRET) {
  const now = Math.floor(Date.now() / 1000);
  const body = { sub: 'user-e2e', tenant_id: 'tenant-e2e', iat: now, exp: now + 3600, permissions: [], ...claims };
  const cli = join(build, 'streamer-cli');
  if (existsSync(cli) && Object.keys(claims).length === 0 && secret === SECRET) {
    const r = spawnSync(cli, ['token', '--sub', body.sub, '--tenant', body.tenant_id],
      { env: { ...process.env, JWT_SECRET: secret, JWT_ALG: 'HS256' }, encoding: 'utf8' });
    const t = r.status === 0 ? r.stdout.trim().split(/\s+/).pop() : '';
    if (t.split('.').length === 3) return t;
  }
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const data = `${head}.${b64url(body)}`;
  return `${data}.${createHmac('sha256', secret).update(data).digest('base64url')}`;
}

/** Starts streamerd on a free port; resolves {url, proc} or {skip: why}. */
async function startServer() {
  const bin = join(build, 'streamerd');
  if (!process.env.DATABASE_URL) return { skip: 'no DATABASE_URL (run through make test)' };
  if (!existsSync(bin)) return { skip: `${bin} is not built` };
  const proc = spawn(bin, [], {
    cwd: root,
    env: {
      ...process.env, JWT_SECRET: SECRET, JWT_ALG: 'HS256',
      STREAMER_LISTEN: '127.0.0.1:0', STREAMER_WORKERS: '2', LOG_LEVEL: 'info',
      STREAMER_ASYNC_THRESHOLD: '5s',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); resolve({ skip: 'streamerd did not start in 15 s: ' + log.slice(-300) }); }, 15000);
    proc.stderr.on('data', (d) => {
      log += d;
      for (const line of log.split('\n')) {
        if (!/listening/.test(line)) continue;
        const m = line.match(/port[=":\s]+(\d+)/);
        if (m && m[1] !== '0') {
          clearTimeout(timer);
          resolve({ proc, url: `ws://127.0.0.1:${m[1]}/`, log: () => log });
          return;
        }
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ skip: `streamerd is not functional yet (exit ${code}): ${log.trim().split('\n').pop()?.slice(0, 200)}` });
    });
  });
}

const srv = await startServer();
const skip = srv.skip ?? false;
after(async () => {
  if (!srv.proc || srv.proc.exitCode !== null) return;
  srv.proc.kill('SIGTERM');
  await new Promise((r) => { const t = setTimeout(() => { srv.proc.kill('SIGKILL'); r(); }, 5000); srv.proc.on('exit', () => { clearTimeout(t); r(); }); });
});

function client(t, opts = {}) {
  const c = new StreamerClient(srv.url, { token: token(), WebSocket: TestWebSocket, reconnect: { minMs: 50, maxMs: 200 }, ...opts });
  t.after(() => c.close());
  return c;
}

test('echo answers at once', { skip }, async (t) => {
  const c = client(t);
  await c.connect();
  const r = await c.request('echo', { message: 'héllo ✓' });
  assert.equal(r.message, 'héllo ✓');
  assert.match(r.echoed_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(typeof await c.ping(), 'number');
});

test('concurrent echoes are correlated', { skip }, async (t) => {
  const c = client(t);
  const out = await Promise.all(Array.from({ length: 50 }, (_, i) => c.request('echo', { message: `m${i}` })));
  assert.deepEqual(out.map((r) => r.message), Array.from({ length: 50 }, (_, i) => `m${i}`));
});

test('delay: acknowledgment, rising progress, complete', { skip }, async (t) => {
  const c = client(t);
  const acks = [];
  const prog = [];
  const r = await c.request('delay', { ms: 600, steps: 3 }, { onAck: (a) => acks.push(a), onProgress: (p) => prog.push(p.percentage), timeoutMs: 20000 });
  assert.equal(r.slept_ms, 600);
  assert.equal(acks.length, 1);
  assert.match(acks[0].requestId, /^[0-9a-f-]{36}$/);
  for (let i = 1; i < prog.length; i++) assert.ok(prog[i] >= prog[i - 1]);
  const s = await c.status(acks[0].requestId);
  assert.equal(s.status, 'completed');
  assert.deepEqual(s.result, r);
  const l = await c.list();
  assert.ok(l.some((x) => x.request_id === acks[0].requestId && x.action === 'delay'));
});

test('errors: validation with its field, unknown action, unknown request', { skip }, async (t) => {
  const c = client(t);
  await assert.rejects(c.request('echo', { message: '' }), { code: 'VALIDATION_ERROR', field: 'payload.message' });
  await assert.rejects(c.request('echo', { message: 'x', extra: 1 }), { code: 'VALIDATION_ERROR' });
  await assert.rejects(c.request('no_such_action', {}), { code: 'INVALID_ACTION' });
  await assert.rejects(c.status('00000000-0000-4000-8000-000000000000'), { code: 'NOT_FOUND' });
});

test('cancel ends the request with CANCELLED', { skip }, async (t) => {
  const c = client(t);
  let rid;
  const p = c.request('delay', { ms: 60000, steps: 100 }, { onAck: (a) => { rid = a.requestId; } });
  while (!rid) await new Promise((r) => setTimeout(r, 10));
  await c.cancel(rid);
  await assert.rejects(p, { code: 'CANCELLED' });
});

test('a dropped connection is resumed and the request completes', { skip }, async (t) => {
  const c = client(t);
  const prog = [];
  let rid;
  const p = c.request('delay', { ms: 1500, steps: 10 }, { onAck: (a) => { rid = a.requestId; }, onProgress: (e) => prog.push(e.percentage), timeoutMs: 30000 });
  while (prog.length === 0) await new Promise((r) => setTimeout(r, 10));
  await c.reconnect();
  const r = await p;
  assert.equal(r.slept_ms, 1500);
  for (let i = 1; i < prog.length; i++) assert.ok(prog[i] >= prog[i - 1]);
  // and another client of the same user can follow it by request_id
  const c2 = client(t);
  assert.deepEqual(await c2.resume(rid), r);
});

test('a token signed with another key is refused', { skip }, async (t) => {
  const c = client(t, { token: token({}, 'wrong-secret') });
  await assert.rejects(c.connect(), { code: 'CONNECT_FAILED' });
});

test('another user cannot see the request', { skip }, async (t) => {
  const c = client(t);
  let rid;
  await c.request('delay', { ms: 10, steps: 1 }, { onAck: (a) => { rid = a.requestId; } });
  const other = client(t, { token: token({ sub: 'someone-else' }) });
  await assert.rejects(other.status(rid), { code: 'NOT_FOUND' });
});

/** GET over node:http; `agent` false: a fresh connection per request. */
function get(path, agent = false) {
  const u = new URL(path, srv.url.replace('ws:', 'http:'));
  return new Promise((resolve, reject) => {
    httpGet({ host: u.hostname, port: u.port, path: u.pathname, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'] ?? '', body }));
    }).on('error', reject);
  });
}

test('the demo page, its script, style and the client are served', { skip }, async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.body, /<script type="module" src="demo.js">/);
  const want = { 'demo.js': /javascript/, 'streamer.js': /javascript/, 'demo.css': /text\/css/ };
  for (const [f, type] of Object.entries(want)) {
    const r = await get('/' + f);
    assert.equal(r.status, 200, f);
    assert.match(r.type, type, f);
    assert.equal(r.body, readFileSync(join(root, 'clients', 'demo', f), 'utf8'), f);
  }
  assert.equal((await get('/healthz')).status, 200);
});

// Browsers fetch index.html, demo.js, demo.css and streamer.js over one
// kept-alive connection.
test('each request on a kept-alive connection gets its own file', { skip }, async () => {
  // Raw HTTP/1.1 over one socket: the second GET waits for the first answer.
  const sock = connect(Number(new URL(srv.url).port), '127.0.0.1');
  let buf = Buffer.alloc(0);
  let wake = () => {};
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); wake(); });
  const response = async () => {
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = buf.subarray(0, end).toString();
        const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length >= end + 4 + len) {
          const body = buf.subarray(end + 4, end + 4 + len).toString();
          buf = buf.subarray(end + 4 + len);
          return { type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? '', body };
        }
      }
      await new Promise((r) => { wake = r; });
    }
  };
  try {
    sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match((await response()).type, /text\/html/);
    sock.write('GET /demo.js HTTP/1.1\r\nHost: x\r\n\r\n');
    const js = await response();
    assert.match(js.type, /javascript/);
    assert.match(js.body, /^\/\/ demo\.js/);
  } finally {
    sock.destroy();
  }
});
