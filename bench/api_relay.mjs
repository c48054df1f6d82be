// The baseline for bench/api_bench.mjs: a Node.js `ws` relay doing the same
// fan-out as agentd's API without persistence. Producers connect to
// /produce/<session> and send lines; subscribers connect to
// /subscribe/<session> and get every line, wrapped as a JSON-RPC `event`
// notification with a seq, as agentd sends them. Prints "listening PORT".
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'package.json'));
const { WebSocketServer } = require('ws');

const subs = new Map(); // session -> Set(ws)
const seqs = new Map();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const [, kind, session] = req.url.split('/');
  if (kind === 'subscribe') {
    if (!subs.has(session)) subs.set(session, new Set());
    subs.get(session).add(ws);
    ws.on('close', () => subs.get(session).delete(ws));
    ws.send('{"ok":true}');
  } else {
    ws.on('message', (data) => {
      const seq = (seqs.get(session) || 0) + 1;
      seqs.set(session, seq);
      const text = `{"jsonrpc":"2.0","method":"event","params":{"session":"${session}","seq":${seq},"ts":${Date.now()},"type":"agent.text","data":${data}}}`;
      for (const s of subs.get(session) || []) s.send(text);
    });
  }
});
wss.on('listening', () => console.log('listening ' + wss.address().port));
