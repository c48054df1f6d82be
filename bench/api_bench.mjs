// API benchmark (issue 6): N sessions each streaming events to M subscribers
// through the real daemon (fake agent in the seccomp sandbox, every event
// committed to SQLite before it is sent), and the same fan-out through a
// Node.js `ws` relay without persistence (bench/api_relay.mjs), in one run.
//
//   AGENTD_BIN=build/bin/agentd AGENTD_PLUGIN_DIR=build/lib/agentd/plugins \
//     node bench/api_bench.mjs [--sessions 100] [--subscribers 2] [--rate 100]
//       [--seconds 10] [--flood-sessions 10] [--flood-lines 100000]
//       [--clients 2] [--producers 1] [--only paced|flood|relay] [--no-relay-paced] [--aligned]
//       [--warmup 1] [--no-batch]
//       [--perf FILE] [--dump FILE]   (perf record -g of agentd while it is measured: FILE.paced, FILE.flood)
//
// Paced run: N agents each write RATE lines/s (fake_agent.py "lines K every
// MS": line i at start + i * MS, each flushed) for SECONDS; every line
// becomes an agent.text event that M subscribers get. Reported: events/s
// delivered, and the latency from the moment the agent wrote a line (the
// timestamp it put in the line) to a subscriber receiving it: p50, p99, max;
// and, to show where the time goes, the part from agentd's own stamp on the
// event ("ts", taken when the event is appended, in ms) to the subscriber.
// The relay gets the same paced load from producer processes, as a control:
// what the machine and the clients alone add to the latency.
//
// Flood run: FN agents write FL lines each as fast as they can; events/s
// delivered from the send that starts them to the last event received. The
// relay gets the same: FN sessions x M subscribers, FL lines per session
// sent by producer processes (bench/api_bench_producer.mjs) as fast as the
// relay takes them; ratio = agentd events/s / relay events/s.
//
// Subscribers live in --clients separate processes (bench/api_bench_client.mjs),
// so that one Node.js process receiving is not what limits the figures. For
// each run the bench prints the CPU each side used (CPU-seconds per second of
// wall time, so 1.00 is one core saturated): the server (agentd or the relay),
// the client processes, the agents with their sandboxes (agentd) or the
// producers (relay), and the rest of the machine ("other": whatever else
// runs; on a shared machine, check it). A process at
// or near 1.00 is what limits a run.
import { fork, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, connect, sleep } from '../tests/integration/api/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const sopt = (name) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : null;
};
const N = opt('sessions', 100), M = opt('subscribers', 2), RATE = opt('rate', 100);
const SECONDS = opt('seconds', 10), FN = opt('flood-sessions', 10), FL = opt('flood-lines', 100000);
const K = opt('clients', 2), P = opt('producers', 1);
// Paced runs last WARMUP more seconds, and their figures are those of the
// lines received after the first WARMUP seconds: a process's first messages
// run through Node.js's interpreter before its JIT has compiled the hot path,
// and all the agents start their turn at once; both are the start, not the
// streaming. The whole run's p99 is printed too.
const WARMUP = opt('warmup', 1);
// agentd's subscribers ask for JSON-RPC batches (events.subscribe batch:
// true), as a client that wants throughput does; the flood also runs without
// (one message per event), and both are printed. --no-batch: never.
const BATCH = !args.includes('--no-batch');
const ONLY = sopt('only');
const RELAY_PACED = !args.includes('--no-relay-paced');
const ALIGNED = args.includes('--aligned');
const DUMP = sopt('dump'); // DUMP.<n>.csv: every event's receive time and latency, one file per run
let dumpNo = 0;
const PERF = sopt('perf'); // perf record agentd during the measured part of each run: PERF.paced, PERF.flood
const runs = (what) => ONLY === null || ONLY === what;

const now = () => performance.timeOrigin + performance.now();
const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor(a.length * p))] : undefined);

// ---- CPU accounting from /proc ----

const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
function procCpu(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // utime + stime
  } catch {
    return 0;
  }
}
function machineCpu() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((x, y) => x + y, 0);
  return (total - f[3] - f[4]) / TICK; // busy: all but idle and iowait
}
// Every process under pid (the agents and their sandboxes, for agentd).
function descendants(pid) {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const out = [];
  const want = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, pp] of parent)
      if (want.has(pp) && !want.has(p)) { want.add(p); out.push(p); grew = true; }
  }
  return out;
}
// A snapshot of the CPU used so far by named groups of pids, and the machine.
function cpuSnap(groups) {
  const out = { machine: machineCpu(), self: procCpu(process.pid) };
  for (const [k, pids] of Object.entries(groups)) out[k] = pids.map(procCpu);
  return out;
}
function cpuUse(a, b, wall) {
  const out = {};
  let known = (b.self - a.self) / wall;
  for (const k of Object.keys(b)) {
    if (k === 'machine' || k === 'self') continue;
    out[k] = b[k].map((v, i) => (v - a[k][i]) / wall);
    known += out[k].reduce((x, y) => x + y, 0);
    if (k === 'agents') out[k] = out[k].reduce((x, y) => x + y, 0); // one figure for them all
  }
  out.other = (b.machine - a.machine) / wall - known; // whatever else runs on the machine
  return out;
}
const cores = (v) => v.toFixed(2);
const cpuText = (u) => Object.entries(u).map(([k, v]) => `${k} ${Array.isArray(v) ? v.map(cores).join('+') : cores(v)}`).join(', ');

// ---- subscriber and producer processes ----

function child(file) {
  const c = fork(path.join(here, file), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = [];
  c.on('message', (m) => { const w = waiting.shift(); if (w) w(m); });
  c.ask = (m) => new Promise((resolve) => { waiting.push(resolve); if (m) c.send(m); });
  c.hello = c.ask(null);
  return c;
}

async function clients(specs) {
  const cs = Array.from({ length: Math.min(K, specs.length) }, () => child('api_bench_client.mjs'));
  await Promise.all(cs.map((c) => c.hello));
  const parts = cs.map(() => []);
  specs.forEach((s, i) => parts[i % cs.length].push(s));
  const r = await Promise.all(cs.map((c, i) => c.ask({ open: parts[i] })));
  for (const m of r) if (m.error) throw new Error(m.error);
  return cs;
}

// The clients' samples; from: only those received at or after that time
// (ms since the epoch; 0: all).
async function collect(cs, from = 0) {
  const r = await Promise.all(cs.map((c) => c.ask({ collect: true })));
  const cat = (k, since = from) => {
    const out = [];
    for (const m of r)
      for (let i = 0; i < m[k].length; i++)
        if (m.at[i] >= since && !Number.isNaN(m[k][i])) out.push(m[k][i]);
    return Float64Array.from(out).sort();
  };
  if (DUMP) {
    // Receive time and latency of every event, for a look at when the slow
    // ones happen.
    const rows = [];
    for (const m of r) for (let i = 0; i < m.at.length; i++) rows.push([m.at[i], m.lat[i], m.srv[i]]);
    rows.sort((x, y) => x[0] - y[0]);
    fs.writeFileSync(`${DUMP}.${dumpNo++}.csv`, 'at_ms,latency_ms,from_server_stamp_ms\n' +
      rows.map((x) => `${x[0].toFixed(3)},${x[1].toFixed(3)},${x[2].toFixed(3)}`).join('\n') + '\n');
  }
  return { count: r.reduce((x, m) => x + m.count, 0), last: Math.max(...r.map((m) => m.last)),
    lat: cat('lat'), srv: cat('srv'), whole: from > 0 ? cat('lat', 0) : null };
}

// A light progress poll: only the counts.
const progress = async (cs) => (await Promise.all(cs.map((c) => c.ask({ progress: true })))).reduce((x, m) => x + m.count, 0);
async function waitCount(cs, want, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (await progress(cs) >= want) return true;
    if (Date.now() > end) return false;
    await sleep(50);
  }
}

function closeAll(cs) { for (const c of cs) c.send({ close: true }); }

function figures(t0, res, want, cpu) {
  return { complete: res.count >= want, delivered: res.count, events_per_s: res.count / ((res.last - t0) / 1000),
    p50_ms: pct(res.lat, 0.5), p99_ms: pct(res.lat, 0.99), max_ms: res.lat[res.lat.length - 1],
    srv_p50_ms: pct(res.srv, 0.5), srv_p99_ms: pct(res.srv, 0.99),
    ...(res.whole ? { whole_p99_ms: pct(res.whole, 0.99), whole_max_ms: res.whole[res.whole.length - 1] } : {}), cpu };
}

// ---- agentd ----

async function agentdRun() {
  const srv = new Server({ limits: { max_sessions: N + 2 * FN + 10 },
    api: { max_connections: 4096, max_connections_per_address: 4096 },
    log: { level: 'warn' } });
  await srv.start();
  const tok = srv.token('editor');
  const ctl = await connect(srv.url, { token: tok.token });
  const headers = { Authorization: 'Bearer ' + tok.token };
  const out = {};

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
  async function subscribeAll(ids, batch) {
    const specs = [];
    for (const id of ids) {
      const last = (await ctl.call('session.get', { session: id })).result.last_seq;
      for (let k = 0; k < M; k++)
        specs.push({ url: srv.url, headers, subscribe: JSON.stringify(
          { jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: { session: id, since: last, batch } }) });
    }
    const cs = await clients(specs);
    await sleep(300);
    return cs;
  }
  async function run(name, ids, text, want, ms, { batch = BATCH, warmup = 0 } = {}) {
    const cs = await subscribeAll(ids, batch);
    const groups = { agentd: [srv.proc.pid], clients: cs.map((c) => c.pid), agents: descendants(srv.proc.pid) };
    const perf = PERF && spawn('perf', ['record', '-q', '-g', '--call-graph', 'dwarf,16384', '-F', '999',
      '-p', String(srv.proc.pid), '-o', `${PERF}.${name}`], { stdio: 'ignore' });
    if (perf) await sleep(500);
    const c0 = cpuSnap(groups);
    const t0 = now();
    await Promise.all(ids.map((id, i) => ctl.call('session.send', { session: id, text: typeof text === 'function' ? text(i) : text })));
    await waitCount(cs, want, ms);
    const t1 = now();
    const c1 = cpuSnap(groups);
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((r) => perf.on('exit', r));
    }
    const res = await collect(cs, warmup > 0 ? t0 + warmup * 1000 : 0);
    closeAll(cs);
    for (const id of ids) await ctl.call('session.delete', { session: id, purge_events: true });
    return { batch, ...figures(t0, res, want, cpuUse(c0, c1, (t1 - t0) / 1000)) };
  }

  if (runs('paced')) {
    const ids = await makeSessions(N);
    const lines = RATE * (SECONDS + WARMUP);
    // Independent sessions do not write in step: agent i starts i/N of a
    // period after the first (--aligned: all at once, every agent waking at
    // the same moment, a worst case for the machine's scheduler).
    const every = 1000 / RATE;
    out.paced = { sessions: N, subscribers: M, rate: RATE, aligned: ALIGNED,
      ...await run('paced', ids, (i) => `lines ${lines} every ${every}` + (ALIGNED ? '' : ` offset ${(i * every / N).toFixed(3)}`),
        N * M * lines, (SECONDS + WARMUP + 60) * 1000, { warmup: WARMUP }) };
  }
  if (runs('flood')) {
    const ids = await makeSessions(FN);
    out.flood = { sessions: FN, subscribers: M, lines: FL,
      ...await run('flood', ids, `lines ${FL}`, FN * M * FL, 300000) };
    if (BATCH) {
      const ids2 = await makeSessions(FN);
      out.flood_unbatched = { sessions: FN, subscribers: M, lines: FL,
        ...await run('flood-unbatched', ids2, `lines ${FL}`, FN * M * FL, 300000, { batch: false }) };
    }
  }
  await ctl.close();
  await srv.cleanup();
  return out;
}

// ---- the relay ----

async function relayRun(sessions, lines, every, warmup = 0) {
  const relay = spawn(process.execPath, [path.join(here, 'api_relay.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((r) => relay.stdout.on('data', (d) => {
    const m = /listening (\d+)/.exec(d.toString());
    if (m) r(Number(m[1]));
  }));
  const base = `ws://127.0.0.1:${port}`;
  const specs = [];
  for (let i = 0; i < sessions; i++)
    for (let k = 0; k < M; k++) specs.push({ url: `${base}/subscribe/s${i}`, subscribe: null });
  const cs = await clients(specs);
  const ps = Array.from({ length: Math.min(P, sessions) }, () => child('api_bench_producer.mjs'));
  await Promise.all(ps.map((p) => p.hello));
  const parts = ps.map(() => []);
  for (let i = 0; i < sessions; i++) parts[i % ps.length].push('s' + i);
  await Promise.all(ps.map((p, i) => p.ask({ start: { url: base, sessions: parts[i], lines, every } })));
  await sleep(300);
  const groups = { relay: [relay.pid], clients: cs.map((c) => c.pid), producers: ps.map((p) => p.pid) };
  const c0 = cpuSnap(groups);
  const t0 = now();
  ps.forEach((p) => p.ask({ go: true }));
  const want = sessions * M * lines;
  await waitCount(cs, want, every > 0 ? (SECONDS + 60) * 1000 : 300000);
  const t1 = now();
  const c1 = cpuSnap(groups);
  const res = await collect(cs, warmup > 0 ? t0 + warmup * 1000 : 0);
  closeAll(cs);
  closeAll(ps);
  relay.kill();
  return { sessions, subscribers: M, lines, ...figures(t0, res, want, cpuUse(c0, c1, (t1 - t0) / 1000)) };
}

const a = ONLY === 'relay' ? {} : await agentdRun();
const r = runs('relay') || ONLY === 'flood' ? await relayRun(FN, FL, 0) : null;
const rp = RELAY_PACED && (runs('relay') || ONLY === 'paced') ? await relayRun(N, RATE * (SECONDS + WARMUP), 1000 / RATE, WARMUP) : null;

const f = (x) => (x === undefined ? '-' : x.toFixed(x < 10 ? 2 : 0));
const inc = (x) => (x.complete ? '' : ` (INCOMPLETE: ${x.delivered} delivered)`);
console.log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0].model}); ${K} client processes`);
if (a.paced) {
  const p = a.paced;
  console.log(`paced  agentd: ${p.sessions} sessions x ${p.subscribers} subscribers at ${p.rate} lines/s: ` +
    `${f(p.events_per_s)} events/s delivered, latency p50 ${f(p.p50_ms)} ms, p99 ${f(p.p99_ms)} ms, max ${f(p.max_ms)} ms` + inc(p));
  console.log(`               (after the first ${WARMUP} s; whole run: p99 ${f(p.whole_p99_ms)} ms, max ${f(p.whole_max_ms)} ms; batch ${p.batch})`);
  console.log(`               agentd's stamp -> subscriber: p50 ${f(p.srv_p50_ms)} ms, p99 ${f(p.srv_p99_ms)} ms; CPU (cores): ${cpuText(p.cpu)}`);
}
if (rp) {
  console.log(`paced  relay : ${rp.sessions} x ${rp.subscribers} at ${RATE} lines/s: ${f(rp.events_per_s)} events/s delivered, ` +
    `latency p50 ${f(rp.p50_ms)} ms, p99 ${f(rp.p99_ms)} ms, max ${f(rp.max_ms)} ms` + inc(rp));
  console.log(`               (after the first ${WARMUP} s; whole run: p99 ${f(rp.whole_p99_ms)} ms, max ${f(rp.whole_max_ms)} ms)`);
  console.log(`               CPU (cores): ${cpuText(rp.cpu)}`);
}
for (const [p, how] of [[a.flood, a.flood && a.flood.batch ? 'events in JSON-RPC batches' : 'one message per event'],
  [a.flood_unbatched, 'one message per event']]) {
  if (!p) continue;
  console.log(`flood  agentd: ${p.sessions} x ${p.subscribers}, ${p.lines} lines each, ${how}: ${f(p.events_per_s)} events/s delivered ` +
    `(p50 ${f(p.p50_ms)} ms, p99 ${f(p.p99_ms)} ms)` + inc(p));
  console.log(`               CPU (cores): ${cpuText(p.cpu)}`);
}
if (r) {
  console.log(`flood  relay : ${r.sessions} x ${r.subscribers}, ${r.lines} lines each: ${f(r.events_per_s)} events/s delivered ` +
    `(p50 ${f(r.p50_ms)} ms, p99 ${f(r.p99_ms)} ms)` + inc(r));
  console.log(`               CPU (cores): ${cpuText(r.cpu)}`);
}
if (a.flood && r) {
  const batched = a.flood.batch ? ` (batches); one message per event: ${a.flood_unbatched ? (a.flood_unbatched.events_per_s / r.events_per_s).toFixed(2) : '-'}` : '';
  console.log(`ratio agentd/relay (flood events/s): ${(a.flood.events_per_s / r.events_per_s).toFixed(2)}${batched}`);
}
console.log(JSON.stringify({ agentd: a, relay: r, relay_paced: rp }));
process.exit(0);
