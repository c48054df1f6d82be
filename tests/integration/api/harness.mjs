// Test harness for the WebSocket API: starts the real daemon (`agentd serve`)
// with a fake agent in the seccomp sandbox, makes tokens with the real CLI,
// and talks to it with an independent client (npm `ws`).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', '..', 'package.json'));
export const WebSocket = require('ws');

export const AGENTD = process.env.AGENTD_BIN;
export const PLUGIN_DIR = process.env.AGENTD_PLUGIN_DIR;
export const FAKE_AGENT = path.join(here, 'fake_agent.py');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

function merge(a, b) {
  for (const [k, v] of Object.entries(b || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object') merge(a[k], v);
    else a[k] = v;
  }
  return a;
}

export class Server {
  constructor(extra = {}) {
    this.dir = fs.mkdtempSync('/tmp/aa-');
    this.extra = extra;
    this.proc = null;
    this.logs = '';
    // A test run that is cut short must not leave a daemon behind.
    process.on('exit', () => {
      if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL');
    });
  }

  async start() {
    if (!this.port) this.port = await freePort();
    const cfg = merge({
      data_dir: path.join(this.dir, 'var'),
      listen: { address: '127.0.0.1', port: this.port },
      log: { level: 'info', format: 'json' },
      plugins: { dirs: [PLUGIN_DIR], load: ['sandbox-seccomp'] },
      sandboxes: { local: { plugin: 'sandbox-seccomp', ro_paths: [here] } },
      default_sandbox: 'local',
      agent: { command: FAKE_AGENT },
    }, JSON.parse(JSON.stringify(this.extra)));
    this.config = path.join(this.dir, 'agentd.json');
    fs.writeFileSync(this.config, JSON.stringify(cfg, null, 2));
    // 1,000 connections need more descriptors than a default 1024.
    this.proc = spawn('/bin/sh', ['-c', 'ulimit -n 8192 2>/dev/null; exec "$0" --config "$1" serve',
      AGENTD, this.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.logs = '';
    this.proc.stderr.on('data', (d) => { this.logs += d.toString(); });
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    this.url = `ws://127.0.0.1:${this.port}/`;
    // Ready once it says so (it listens before that line; works for TLS),
    // or once plain /healthz answers (when the log level hides the line).
    for (let i = 0; i < 400; i++) {
      if (/ ready: config /.test(this.logs)) return this;
      try {
        if ((await fetch(`http://127.0.0.1:${this.port}/healthz`)).ok) return this;
      } catch { /* not yet, or TLS */ }
      if (this.proc.exitCode !== null) break;
      await sleep(25);
    }
    throw new Error('agentd serve did not come up:\n' + this.logs);
  }

  cli(...args) {
    const r = spawnSync(AGENTD, ['--config', this.config, ...args], { encoding: 'utf8', env: { ...process.env, ...(this.cliEnv || {}) } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  token(role, name = role) {
    const r = this.cli('token', 'create', '--role', role, '--name', name, '--json');
    if (r.code !== 0) throw new Error('token create failed: ' + r.err);
    return JSON.parse(r.out);
  }

  async kill9() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
      await this.exited;
      clearTimeout(t);
    }
  }

  async cleanup() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // The stored events of a session, read from SQLite by python3 (not through
  // the server): [{seq, type}].
  storedEvents(session) {
    const db = path.join(this.dir, 'var', 'agentd.db');
    const py = `import sqlite3,json,sys
c=sqlite3.connect(sys.argv[1])
rows=c.execute("select e.seq,e.type from events e join event_streams s on s.sid=e.sid where s.session_id=? order by e.seq",(sys.argv[2],)).fetchall()
print(json.dumps([{"seq":r[0],"type":r[1]} for r in rows]))`;
    const r = spawnSync('python3', ['-c', py, db, session], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  }

  deleteEventsUpTo(session, seq) {
    const db = path.join(this.dir, 'var', 'agentd.db');
    const py = `import sqlite3,sys
c=sqlite3.connect(sys.argv[1])
c.execute("delete from events where sid=(select sid from event_streams where session_id=?) and seq<=?",(sys.argv[2],int(sys.argv[3])))
c.commit()`;
    const r = spawnSync('python3', ['-c', py, db, session, String(seq)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  }
}

// A JSON-RPC client over `ws`.
export class Client {
  constructor(url, { token, headers = {}, wsOptions = {} } = {}) {
    if (token) headers.Authorization = 'Bearer ' + token;
    this.ws = new WebSocket(url, { headers, maxPayload: 256 * 1024 * 1024, ...wsOptions });
    this.nextId = 1;
    this.pending = new Map();
    this.notes = [];
    this.events = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const [, p] of this.pending) p.reject(new Error('closed'));
        this.pending.clear();
        resolve(this.closeInfo);
        this._wake();
      });
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.on('open', () => resolve(this));
      this.ws.on('unexpected-response', (req, res) => {
        this.refusedStatus = res.statusCode;
        reject(Object.assign(new Error('refused ' + res.statusCode), { status: res.statusCode }));
        req.destroy();
      });
      this.ws.on('error', (e) => reject(e));
    });
    this.batches = [];
    this.ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (Array.isArray(m)) {
        // A JSON-RPC batch of event notifications (batch: true).
        this.batches.push({ bytes: data.length, size: m.length });
        for (const n of m) {
          if (n.method === 'event') this.events.push(n.params);
          else this.notes.push({ inBatch: true, ...n });
        }
        this._wake();
        return;
      }
      if (m.id !== undefined && m.id !== null && this.pending.has(m.id)) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p.resolve(m);
      } else if (m.method === 'event') {
        this.events.push(m.params);
      } else {
        this.notes.push(m);
      }
      this._wake();
    });
  }

  _wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  open() { return this.opened; }

  call(method, params) {
    const id = this.nextId++;
    const msg = { jsonrpc: '2.0', id, method };
    if (params !== undefined) msg.params = params;
    return this.raw(JSON.stringify(msg), id);
  }

  raw(text, id) {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(text);
    });
  }

  // Waits until pred() is true (checked on each message), or times out.
  async until(pred, ms = 20000, what = 'condition') {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error('timed out waiting for ' + what);
      if (this.closeInfo && !pred()) throw new Error(`closed (${this.closeInfo.code} ${this.closeInfo.reason}) waiting for ${what}`);
      await new Promise((r) => { this.waiters.push(r); setTimeout(r, 200); });
    }
  }

  close() { try { this.ws.close(); } catch { /* closed */ } return this.closed; }
  terminate() { this.ws.terminate(); return this.closed; }
}

export async function connect(url, opts) {
  const c = new Client(url, opts);
  await c.open();
  return c;
}

// Events of one session, checked gapless from `from`: returns seqs.
export function checkGapless(events, session, from = 1) {
  const seqs = events.filter((e) => e.session === session).map((e) => e.seq);
  for (let i = 0; i < seqs.length; i++)
    if (seqs[i] !== from + i) throw new Error(`gap or duplicate at index ${i}: got ${seqs[i]}, want ${from + i} (${seqs.slice(Math.max(0, i - 3), i + 3)})`);
  return seqs;
}

export { os };
