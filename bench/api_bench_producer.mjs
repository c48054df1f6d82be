// A producer process for the relay side of bench/api_bench.mjs: stands in
// for the agents. Connects to the relay's /produce/<session> for each
// session it is given and sends `lines` lines on each, as fast as the relay
// takes them or one every `every` ms ({"text":"line I TS"}, TS in seconds, as the fake agent writes
// them). IPC: {start: {url, sessions, lines, every}} -> connects, answers {ready};
// {go: true} -> sends, answers {sent}; {close: true} -> exits.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
const WebSocket = require('ws');

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let socks = [], lines = 0, every = 0;

// Round robin over the sessions, as several agents writing at once would.
// Paced (every > 0): line i of every session at start + i * every ms.
async function produce(every) {
  const start = now();
  for (let i = 0; i < lines; i++) {
    if (every > 0) {
      const delay = start + i * every - now();
      if (delay > 0) await sleep(delay);
    }
    const line = `{"text":"line ${i} ${(now() / 1000).toFixed(6)}"}`;
    for (const ws of socks) ws.send(line);
    // Backpressure, like a pipe: wait while the relay is behind.
    for (const ws of socks)
      if (ws.bufferedAmount > 1 << 20) while (ws.bufferedAmount > 1 << 18) await sleep(1);
  }
}

process.on('message', async (m) => {
  if (m.start) {
    lines = m.start.lines;
    every = m.start.every || 0;
    socks = await Promise.all(m.start.sessions.map((s) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`${m.start.url}/produce/${s}`, { perMessageDeflate: false });
      ws.on('open', () => resolve(ws));
      ws.on('error', reject);
    })));
    process.send({ ready: true });
  } else if (m.go) {
    await produce(every);
    process.send({ sent: true });
  } else if (m.close) {
    for (const ws of socks) ws.terminate();
    process.exit(0);
  }
});
process.send({ hello: true });
