// A subscriber process for bench/api_bench.mjs (forked, IPC in advanced
// serialization). The bench spreads its subscribers over several of these so
// that the receiving side is not what limits a run: one Node.js process can
// take only so many WebSocket messages a second.
//
// Messages from the parent:
//   {open: [{url, headers, subscribe}], want}  connect each (subscribe: the
//       text to send once open, or null), count agent.text events; answer
//       {opened} once every socket is open and its subscribe was answered
//   {progress: true} answer {count}
//   {collect: true}  answer {count, first, last, lat, srv, at} and keep going
//   {close: true}    terminate every socket and exit
// Each subscriber counts the agent.text events it gets; for each one it
// records the latency from the timestamp the agent wrote into the line
// ("line I TS", seconds) to now (lat, ms), and from the server's own stamp
// ("ts", ms) to now (srv, ms; shows which side of the server the time is
// spent), and when (at, ms since the epoch). Messages are read as bytes, not
// parsed, so that the client costs little per message; a message may be a
// JSON-RPC batch of events (subscribe with batch: true).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
const WebSocket = require('ws');

const now = () => performance.timeOrigin + performance.now();
const TYPE = Buffer.from('"agent.text"');
const LINE = Buffer.from('"line ');
const TS = Buffer.from('"ts":');

// Reads a decimal number (digits and one '.') at buf[i...].
function number(buf, i) {
  let v = 0, scale = 0;
  for (; i < buf.length; i++) {
    const c = buf[i];
    if (c === 46) { scale = 1; continue; }
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    if (scale) scale *= 10;
  }
  return scale ? v / scale : v;
}

class Samples {
  constructor() { this.a = new Float64Array(1 << 16); this.n = 0; }
  push(v) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  take() { return this.a.slice(0, this.n); }
}

const socks = [];
const lat = new Samples(), srv = new Samples(), at = new Samples();
let count = 0, first = 0, last = 0;

// One message is an event notification, or a JSON-RPC batch of them (an
// array, for subscriptions made with batch: true): each event in it has its
// "ts" before its "type", and its line after.
function onMessage(data) {
  let t = 0;
  for (let pos = 0; ;) {
    const j = data.indexOf(TS, pos);
    if (j < 0) break;
    const next = data.indexOf(TS, j + TS.length);
    const k = data.indexOf(TYPE, j);
    pos = next < 0 ? data.length : next;
    if (k < 0 || (next >= 0 && k > next)) continue; // not an agent.text event
    if (t === 0) t = now();
    count++;
    if (first === 0) first = t;
    last = t;
    let i = data.indexOf(LINE, k);
    if (i >= 0 && (next < 0 || i < next)) i = data.indexOf(32, i + LINE.length); // the space after the line number
    else i = -1;
    lat.push(i > 0 ? t - number(data, i + 1) * 1000 : NaN);
    srv.push(t - number(data, j + TS.length));
    at.push(t);
  }
}

function open(list) {
  return Promise.all(list.map((s) => new Promise((resolve, reject) => {
    const ws = new WebSocket(s.url, { headers: s.headers || {}, perMessageDeflate: false });
    socks.push(ws);
    let answered = s.subscribe == null;
    ws.on('error', reject);
    ws.on('open', () => {
      if (s.subscribe != null) ws.send(s.subscribe);
      else resolve();
    });
    ws.on('message', (data) => {
      if (!answered) {
        // The first message is the subscribe's answer (or an event that
        // follows it: agentd sends the response first).
        answered = true;
        if (data.indexOf('"error"') >= 0 && data.indexOf('"result"') < 0) {
          reject(new Error('subscribe failed: ' + data.toString()));
          return;
        }
        resolve();
      }
      onMessage(data);
    });
  })));
}

process.on('message', async (m) => {
  if (m.open) {
    try {
      await open(m.open);
      process.send({ opened: true });
    } catch (e) {
      process.send({ error: String(e && e.message || e) });
    }
  } else if (m.collect) {
    process.send({ count, first, last, lat: lat.take(), srv: srv.take(), at: at.take() });
  } else if (m.progress) {
    process.send({ count });
  } else if (m.close) {
    for (const ws of socks) ws.terminate();
    process.exit(0);
  }
});
process.send({ ready: true });
