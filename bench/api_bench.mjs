// API benchmark (issue 6): N sessions each streaming events to M subscribers
// through the real daemon (fake agent in the seccomp sandbox, every event
// committed to SQLite before it is sent), and the same fan-out through a
// Node.js `ws` relay without persistence (bench/api_relay.mjs), in one run.
//
//   AGENTD_BIN=build/bin/agentd AGENTD_PLUGIN_DIR=build/lib/agentd/plugins \
//     node bench/api_bench.mjs [--sessions 100] [--subscribers 2] [--rate 100]
//       [--seconds 10] [--flood-sessions 10] [--flood-lines 20000]
//
// Reports, for a paced run (each agent writing --rate lines/s): events/s
// delivered and the latency from the agent writing a line (its timestamp in
// the line) to a subscriber receiving it, p50/p99/max; for a flood run
// (agents writing as fast as they can): events/s delivered, for agentd and
// for the relay, and their ratio.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, connect, WebSocket, sleep } from '../tests/integration/api/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = opt('sessions', 100), M = opt('subscribers', 2), RATE = opt('rate', 100);
const SECONDS = opt('seconds', 10), FN = opt('flood-sessions', 10), FL = opt('flood-lines', 20000);

const now = () => performance.timeOrigin + performance.now();
const pct = (a, p) => a[Math.min(a.length - 1, Math.floor(a.length * p))];

// A subscriber that counts agent.text events and records latency from the
// timestamp the agent put in the text ("line I TS").
function subscriber(url, headers, onOpen) {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const s = { ws, count: 0, lat: [], lastSeq: 0 };
  ws.on('message', (data) => {
    const str = data.toString();
    if (!str.includes('"agent.text"')) return;
    s.count++;
    const m = /"line (\d+) ([0-9.]+)/.exec(str);
    if (m) s.lat.push(now() - Number(m[2]) * 1000);
  });
  s.opened = new Promise((r) => ws.on('open', () => { onOpen?.(ws); r(); }));
  return s;
}

async function waitAll(subs, want, ms) {
  const end = Date.now() + ms;
  while (subs.some((s) => s.count < want) && Date.now() < end) await sleep(20);
  return subs.every((s) => s.count >= want);
}

async function agentdRun() {
  const srv = new Server({ limits: { max_sessions: Math.max(N, FN) + 10 },
    api: { max_connections: 4096, max_connections_per_address: 4096 },
    log: { level: 'warn' } });
  await srv.start();
  const tok = srv.token('editor');
  const ctl = await connect(srv.url, { token: tok.token });
  const headers = { Authorization: 'Bearer ' + tok.token };

  async function makeSessions(n) {
    const ids = [];
    for (let i = 0; i < n; i++) {
      const r = await ctl.call('session.create', { prompt: 'warm up' });
      if (!r.result) throw new Error(JSON.stringify(r));
      ids.push(r.result.id);
    }
    for (const id of ids) {
      for (;;) {
        const g = await ctl.call('session.get', { session: id });
        if (g.result.state === 'idle') break;
        await sleep(50);
      }
    }
    return ids;
  }
  async function subscribeAll(ids) {
    const subs = [];
    for (const id of ids) {
      const last = (await ctl.call('session.get', { session: id })).result.last_seq;
      for (let k = 0; k < M; k++) {
        const s = subscriber(srv.url, headers, (ws) => ws.send(JSON.stringify(
          { jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { session: id, since: last } })));
        subs.push(s);
      }
    }
    await Promise.all(subs.map((s) => s.opened));
    await sleep(300);
    return subs;
  }

  // Paced: N sessions x M subscribers, RATE lines/s each for SECONDS.
  const ids = await makeSessions(N);
  let subs = await subscribeAll(ids);
  const lines = RATE * SECONDS;
  const t0 = now();
  await Promise.all(ids.map((id) => ctl.call('session.send', { session: id, text: `lines ${lines} every ${Math.round(1000 / RATE)}` })));
  const ok = await waitAll(subs, lines, (SECONDS + 60) * 1000);
  const t1 = now();
  const lat = subs.flatMap((s) => s.lat).sort((a, b) => a - b);
  const delivered = subs.reduce((a, s) => a + s.count, 0);
  const paced = { sessions: N, subscribers: M, rate: RATE, complete: ok, delivered,
    events_per_s: delivered / ((t1 - t0) / 1000),
    p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99), max_ms: lat[lat.length - 1] };
  subs.forEach((s) => s.ws.terminate());
  for (const id of ids) await ctl.call('session.delete', { session: id, purge_events: true });

  // Flood: FN sessions x M subscribers, FL lines each, as fast as possible.
  const fids = await makeSessions(FN);
  subs = await subscribeAll(fids);
  const f0 = now();
  await Promise.all(fids.map((id) => ctl.call('session.send', { session: id, text: `lines ${FL}` })));
  const fok = await waitAll(subs, FL, 300000);
  const f1 = now();
  const fdel = subs.reduce((a, s) => a + s.count, 0);
  const flat = subs.flatMap((s) => s.lat).sort((a, b) => a - b);
  const flood = { sessions: FN, subscribers: M, lines: FL, complete: fok, delivered: fdel,
    events_per_s: fdel / ((f1 - f0) / 1000), p50_ms: pct(flat, 0.5), p99_ms: pct(flat, 0.99) };
  subs.forEach((s) => s.ws.terminate());
  await ctl.close();
  await srv.cleanup();
  return { paced, flood };
}

async function relayRun() {
  const relay = spawn(process.execPath, [path.join(here, 'api_relay.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((r) => relay.stdout.on('data', (d) => {
    const m = /listening (\d+)/.exec(d.toString());
    if (m) r(Number(m[1]));
  }));
  const url = (k, s) => `ws://127.0.0.1:${port}/${k}/${s}`;
  const subs = [];
  for (let i = 0; i < FN; i++)
    for (let k = 0; k < M; k++) subs.push(subscriber(url('subscribe', 's' + i)));
  await Promise.all(subs.map((s) => s.opened));
  const prods = [];
  for (let i = 0; i < FN; i++) {
    const ws = new WebSocket(url('produce', 's' + i), { perMessageDeflate: false });
    await new Promise((r) => ws.on('open', r));
    prods.push(ws);
  }
  await sleep(200);
  const f0 = now();
  await Promise.all(prods.map(async (ws) => {
    for (let i = 0; i < FL; i++) {
      ws.send(JSON.stringify({ text: `line ${i} ${(now() / 1000).toFixed(6)}` }));
      if (ws.bufferedAmount > 1 << 20) while (ws.bufferedAmount > 1 << 18) await sleep(1);
    }
  }));
  const fok = await waitAll(subs, FL, 300000);
  const f1 = now();
  const fdel = subs.reduce((a, s) => a + s.count, 0);
  const flat = subs.flatMap((s) => s.lat).sort((a, b) => a - b);
  subs.forEach((s) => s.ws.terminate());
  prods.forEach((p) => p.terminate());
  relay.kill();
  return { sessions: FN, subscribers: M, lines: FL, complete: fok, delivered: fdel,
    events_per_s: fdel / ((f1 - f0) / 1000), p50_ms: pct(flat, 0.5), p99_ms: pct(flat, 0.99) };
}

const a = await agentdRun();
const r = await relayRun();
const f = (x) => (x === undefined ? '-' : x.toFixed(x < 10 ? 2 : 0));
console.log(`paced  agentd: ${a.paced.sessions} sessions x ${a.paced.subscribers} subscribers at ${a.paced.rate} lines/s: ` +
  `${f(a.paced.events_per_s)} events/s delivered, latency p50 ${f(a.paced.p50_ms)} ms, p99 ${f(a.paced.p99_ms)} ms, max ${f(a.paced.max_ms)} ms` +
  (a.paced.complete ? '' : ' (INCOMPLETE)'));
console.log(`flood  agentd: ${a.flood.sessions} x ${a.flood.subscribers}, ${a.flood.lines} lines each: ${f(a.flood.events_per_s)} events/s delivered ` +
  `(p50 ${f(a.flood.p50_ms)} ms, p99 ${f(a.flood.p99_ms)} ms)` + (a.flood.complete ? '' : ' (INCOMPLETE)'));
console.log(`flood  relay : ${r.sessions} x ${r.subscribers}, ${r.lines} lines each: ${f(r.events_per_s)} events/s delivered ` +
  `(p50 ${f(r.p50_ms)} ms, p99 ${f(r.p99_ms)} ms)` + (r.complete ? '' : ' (INCOMPLETE)'));
console.log(`ratio agentd/relay (flood events/s): ${(a.flood.events_per_s / r.events_per_s).toFixed(2)}`);
console.log(JSON.stringify({ agentd: a, relay: r }));
process.exit(0);
