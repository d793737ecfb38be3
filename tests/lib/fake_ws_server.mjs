// fake_ws_server.mjs: a small RFC 6455 server and client over node:http,
// for the JS client's tests (Node has no WebSocket server, and Node 20 has
// a global WebSocket client only with --experimental-websocket).
//
//   const srv = await startFakeServer({ onMessage(conn, text) {...} });
//   srv.url            'ws://127.0.0.1:PORT/'
//   conn.send(obj)     a text frame (objects are JSON-encoded)
//   conn.close(code)   a close handshake; conn.destroy() drops the TCP link
//
// Text and binary frames, fragmentation, ping/pong and close; client
// frames must be masked (RFC 6455 5.1), server frames are not.
// TestWebSocket is a WHATWG-style client (onopen, onmessage, onclose,
// onerror, send, close, readyState) built on the same framing.

import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 16 << 20;

function acceptKey(key) {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** One frame: FIN set, masked when `mask` (clients must mask). */
function encodeFrame(opcode, payload, mask) {
  const len = payload.length;
  const head = [0x80 | opcode];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 255);
  else {
    head.push(m | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 255, (len >>> 16) & 255, (len >>> 8) & 255, len & 255);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), key, body]);
}

/**
 * Reads frames from a socket and reassembles messages. Calls
 * onMessage(isText, Buffer), onClose(code, reason), onPing(Buffer);
 * calls onError(code, why) on a protocol violation.
 */
class FrameReader {
  constructor({ expectMasked, onMessage, onClose, onPing, onError }) {
    Object.assign(this, { expectMasked, onMessage, onClose, onPing, onError });
    this.buf = Buffer.alloc(0);
    this.parts = null;  // fragments of a message in progress
    this.partOp = 0;
    this.dead = false;
  }

  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (!this.dead && this.frame()) { /* one frame per turn */ }
  }

  fail(code, why) {
    this.dead = true;
    this.onError(code, why);
  }

  frame() {
    const b = this.buf;
    if (b.length < 2) return false;
    const fin = (b[0] & 0x80) !== 0;
    const rsv = b[0] & 0x70;
    const op = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return false;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return false;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(MAX_MESSAGE)) { this.fail(1009, 'frame too large'); return false; }
      len = Number(big);
      off = 10;
    }
    if (rsv) { this.fail(1002, 'reserved bits set'); return false; }
    if (masked !== this.expectMasked) { this.fail(1002, masked ? 'masked server frame' : 'unmasked client frame'); return false; }
    const keyOff = off;
    if (masked) off += 4;
    if (b.length < off + len) return false;
    let payload = Buffer.from(b.subarray(off, off + len));
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[keyOff + (i & 3)];
    this.buf = b.subarray(off + len);

    if (op >= 8) { // control frames: not fragmented, at most 125 bytes
      if (!fin || len > 125) { this.fail(1002, 'bad control frame'); return false; }
      if (op === 8) {
        const code = len >= 2 ? payload.readUInt16BE(0) : 1005;
        this.dead = true;
        this.onClose(code, payload.subarray(2).toString('utf8'));
        return false;
      }
      if (op === 9) this.onPing(payload);
      else if (op !== 10) { this.fail(1002, 'unknown control opcode'); return false; }
      return true;
    }
    if (op === 0) {
      if (!this.parts) { this.fail(1002, 'continuation without a start'); return false; }
      this.parts.push(payload);
    } else if (op === 1 || op === 2) {
      if (this.parts) { this.fail(1002, 'new message inside a fragmented one'); return false; }
      this.parts = [payload];
      this.partOp = op;
    } else {
      this.fail(1002, 'unknown opcode');
      return false;
    }
    if (fin) {
      const msg = Buffer.concat(this.parts);
      const isText = this.partOp === 1;
      this.parts = null;
      if (isText && !isUtf8(msg)) { this.fail(1007, 'invalid UTF-8'); return false; }
      this.onMessage(isText, msg);
    }
    return true;
  }
}

function isUtf8(buf) {
  try { new TextDecoder('utf-8', { fatal: true }).decode(buf); return true; } catch { return false; }
}

function closePayload(code, reason) {
  if (code === undefined) return Buffer.alloc(0);
  const r = Buffer.from(reason ?? '', 'utf8');
  const p = Buffer.alloc(2 + r.length);
  p.writeUInt16BE(code, 0);
  r.copy(p, 2);
  return p;
}

/** The server side of one connection. */
class FakeConn {
  constructor(server, socket, req) {
    this.server = server;
    this.socket = socket;
    this.url = new URL(req.url, 'http://x');
    this.headers = req.headers;
    this.received = [];   // every text message, parsed when JSON
    this.closed = false;
    this.closeCode = undefined;
    this.reader = new FrameReader({
      expectMasked: true,
      onMessage: (isText, buf) => {
        if (!isText) { server.opts.onBinary?.(this, buf); return; }
        const text = buf.toString('utf8');
        let msg = text;
        try { msg = JSON.parse(text); } catch { /* keep the text */ }
        this.received.push(msg);
        server.opts.onMessage?.(this, msg, text);
      },
      onClose: (code) => { this.closeCode = code; this.close(code === 1005 ? 1000 : code); },
      onPing: (p) => this.write(encodeFrame(10, p, false)),
      onError: (code, why) => this.close(code, why),
    });
    socket.on('data', (d) => this.reader.push(d));
    socket.on('close', () => this.gone());
    socket.on('error', () => this.gone());
  }

  write(frame) {
    if (!this.closed && !this.socket.destroyed) this.socket.write(frame);
  }

  /** Sends a text frame; objects are sent as JSON. */
  send(msg) {
    const text = typeof msg === 'string' ? msg : JSON.stringify(msg);
    this.write(encodeFrame(1, Buffer.from(text, 'utf8'), false));
  }

  sendBinary(buf) { this.write(encodeFrame(2, buf, false)); }

  /** The closing handshake, then the TCP connection ends. */
  close(code = 1000, reason = '') {
    if (this.closed) return;
    this.write(encodeFrame(8, closePayload(code, reason), false));
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 200).unref();
  }

  /** Drops the TCP connection without a close frame (a lost network). */
  destroy() {
    this.closed = true;
    this.socket.destroy();
  }

  gone() {
    if (this.server.conns.delete(this)) {
      this.closed = true;
      this.server.opts.onClose?.(this);
    }
  }
}

/**
 * Starts a server on 127.0.0.1 (any free port).
 *   opts.onConnection(conn)         after the handshake
 *   opts.onMessage(conn, msg, text) every text message (msg: parsed JSON or the text)
 *   opts.onClose(conn)
 *   opts.authorize(req, url)        return an HTTP status (e.g. 401) to refuse the upgrade
 */
export async function startFakeServer(opts = {}) {
  const conns = new Set();
  const srv = createServer((req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  const api = {
    opts, conns,
    connections: [],  // every connection ever made, in order
    url: '',
    port: 0,
    /** Resolves with the next connection (or the n-th one ever, 0-based). */
    nextConnection(n = api.connections.length) {
      if (api.connections[n]) return Promise.resolve(api.connections[n]);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    dropAll() { for (const c of [...conns]) c.destroy(); },
    async close() {
      for (const c of [...conns]) c.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
  const waiters = [];
  srv.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://x');
    const key = req.headers['sec-websocket-key'];
    const refuse = (status, text) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !key
        || req.headers['sec-websocket-version'] !== '13') {
      refuse(400, 'Bad Request');
      return;
    }
    const status = opts.authorize?.(req, url);
    if (status && status !== 101) {
      refuse(status, status === 401 ? 'Unauthorized' : 'Refused');
      return;
    }
    socket.setNoDelay(true);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
      + `Connection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
    const conn = new FakeConn(api, socket, req);
    conns.add(conn);
    api.connections.push(conn);
    opts.onConnection?.(conn);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (api.connections[waiters[i].n]) {
        waiters[i].resolve(api.connections[waiters[i].n]);
        waiters.splice(i, 1);
      }
    }
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  api.port = srv.address().port;
  api.url = `ws://127.0.0.1:${api.port}/`;
  return api;
}

/** A WHATWG-style WebSocket client (text and binary messages, close codes). */
export class TestWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.binaryType = 'arraybuffer';
    const u = new URL(url);
    if (u.protocol !== 'ws:') throw new SyntaxError('TestWebSocket supports ws:// only');
    const key = randomBytes(16).toString('base64');
    const req = httpRequest({
      host: u.hostname, port: u.port || 80, path: u.pathname + u.search,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket',
        'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13',
      },
    });
    this.req = req;
    req.on('upgrade', (res, socket, head) => {
      if (this.readyState === 3) { socket.destroy(); return; }
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        socket.destroy();
        this.finish(1006, '', true);
        return;
      }
      this.socket = socket;
      socket.setNoDelay(true);
      this.reader = new FrameReader({
        expectMasked: false,
        onMessage: (isText, buf) => {
          if (this.readyState !== 1) return;
          const data = isText ? buf.toString('utf8')
            : buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
          this.onmessage?.({ type: 'message', data });
        },
        onClose: (code, reason) => {
          this.peerCode = code;
          this.peerReason = reason;
          if (this.readyState === 1) {
            this.readyState = 2;
            socket.write(encodeFrame(8, closePayload(code === 1005 ? undefined : code), true));
          }
          socket.end();
        },
        onPing: (p) => socket.write(encodeFrame(10, p, true)),
        onError: (code) => { this.peerCode = code; socket.destroy(); },
      });
      socket.on('data', (d) => this.reader.push(d));
      socket.on('close', () => this.finish(this.peerCode ?? 1006, this.peerReason ?? '', false));
      socket.on('error', () => {});
      this.readyState = 1;
      this.onopen?.({ type: 'open' });
      if (head && head.length) this.reader.push(head);
    });
    req.on('response', (res) => { res.resume(); this.finish(1006, '', true); });
    req.on('error', () => this.finish(1006, '', true));
    req.end();
  }

  finish(code, reason, error) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (error) this.onerror?.({ type: 'error' });
    this.onclose?.({ type: 'close', code, reason, wasClean: code !== 1006 });
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    const text = typeof data === 'string';
    this.socket.write(encodeFrame(text ? 1 : 2, text ? Buffer.from(data, 'utf8') : Buffer.from(data), true));
  }

  close(code, reason) {
    if (this.readyState >= 2) return;
    if (this.readyState === 0) { this.req.destroy(); this.finish(1006, '', false); return; }
    this.readyState = 2;
    this.socket.write(encodeFrame(8, closePayload(code, reason), true));
    setTimeout(() => this.socket?.destroy(), 1000).unref();
  }
}
