// The WebSocket API against the real daemon: auth, roles, errors, limits,
// replay, backpressure, restarts. Run: node --test (AGENTD_BIN,
// AGENTD_PLUGIN_DIR set; tests/CMakeLists does it).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Server, Client, connect, checkGapless, sleep } from './harness.mjs';

const ERR = {
  parse: -32700, invalidRequest: -32600, noMethod: -32601, invalidParams: -32602,
  notAuthenticated: -32001, forbidden: -32002, unknownSession: -32003, cursorTooOld: -32004,
  authFailed: -32010, tooLarge: -32011, state: -32006,
};

async function waitIdle(c, session, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await c.call('session.get', { session });
    if (r.result && ['idle', 'completed', 'failed', 'stopped'].includes(r.result.state)) return r.result;
    if (Date.now() > end) throw new Error('session never went idle: ' + JSON.stringify(r));
    await sleep(100);
  }
}

describe('api', () => {
  let srv, admin, editor, viewer;
  before(async () => {
    srv = new Server({
      limits: { max_message_bytes: 65536 },
      api: { handshake_timeout_s: 2, ping_interval_s: 1, idle_timeout_s: 5,
        client_queue_bytes: 2097152, token_recheck_ms: 200 },
    });
    await srv.start();
    admin = srv.token('admin');
    editor = srv.token('editor');
    viewer = srv.token('viewer');
  });
  after(async () => { await srv.cleanup(); });

  test('health and metrics over plain HTTP', async () => {
    const h = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
    assert.equal(h.status, 200);
    assert.equal((await h.json()).status, 'ok');
    const m = await fetch(`http://127.0.0.1:${srv.port}/metrics`);
    assert.equal(m.status, 200);
    const text = await m.text();
    for (const name of ['agentd_sessions{state="idle"}', 'agentd_events_appended_total',
      'agentd_api_connections', 'agentd_api_subscribers', 'agentd_api_queue_bytes',
      'agentd_session_cost_usd', 'agentd_session_tokens{kind="input"}',
      'agentd_db_checkpoints_total{thread="background"}', 'agentd_db_checkpoints_total{thread="loop"}',
      'agentd_db_checkpoint_failures_total 0'])
      assert.ok(text.includes(name), name + ' in /metrics');
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/nope`)).status, 404);
  });

  test('auth refusals: no token, wrong, malformed, revoked, wrong first message', async () => {
    // No token: nothing but auth is answered, and the connection is closed
    // after the handshake timeout.
    const anon = await connect(srv.url);
    for (const m of ['server.info', 'session.list', 'events.subscribe', 'session.create', 'token.list']) {
      const r = await anon.call(m, m === 'events.subscribe' ? { session: 'x' } : undefined);
      assert.equal(r.error.code, ERR.notAuthenticated, m);
      assert.equal(r.result, undefined);
    }
    const closed = await anon.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /not authenticated/);
    assert.equal(anon.events.length, 0);

    // A wrong, malformed or revoked token on the upgrade: 401, no socket.
    const wrong = 'agentd_' + admin.id + '_' + '0'.repeat(64);
    for (const headers of [{ Authorization: 'Bearer ' + wrong }, { Authorization: 'Bearer nonsense' },
      { Authorization: 'Basic ' + admin.token }]) {
      const c = new Client(srv.url, { headers });
      await assert.rejects(c.open(), (e) => e.status === 401);
    }
    const gone = srv.token('viewer', 'to-revoke');
    assert.equal(srv.cli('token', 'revoke', gone.id).code, 0);
    await assert.rejects(new Client(srv.url, { token: gone.token }).open(), (e) => e.status === 401);

    // A wrong token as the first message: an error, then the close.
    const b = await connect(srv.url);
    const r = await b.call('auth', { token: wrong });
    assert.equal(r.error.code, ERR.authFailed);
    assert.equal((await b.closed).code, 1008);

    // The browser way: a first auth message with a good token.
    const ok = await connect(srv.url);
    const a = await ok.call('auth', { token: viewer.token });
    assert.equal(a.result.role, 'viewer');
    assert.ok((await ok.call('session.list')).result.sessions);
    assert.equal((await ok.call('auth', { token: viewer.token })).error.code, ERR.state);
    await ok.close();

    const m = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
    assert.ok(/agentd_api_auth_failures_total [1-9]/.test(m));
  });

  test('a revoked token\'s open connections are closed (CLI and API)', async () => {
    const t1 = srv.token('viewer', 'r1');
    const c1 = await connect(srv.url, { token: t1.token });
    assert.ok((await c1.call('server.info')).result);
    assert.equal(srv.cli('token', 'revoke', t1.id).code, 0);
    const cl = await c1.closed;
    assert.equal(cl.code, 1008);
    assert.match(cl.reason, /revoked/);

    const t2 = srv.token('editor', 'r2');
    const c2 = await connect(srv.url, { token: t2.token });
    const ad = await connect(srv.url, { token: admin.token });
    const r = await ad.call('token.revoke', { id: t2.id });
    assert.equal(r.result.revoked, true);
    assert.equal((await c2.closed).code, 1008);
    await ad.close();
  });

  test('role boundaries: viewer reads, editor drives, admin manages tokens', async () => {
    const v = await connect(srv.url, { token: viewer.token });
    const e = await connect(srv.url, { token: editor.token });
    const a = await connect(srv.url, { token: admin.token });
    const created = await e.call('session.create', { prompt: 'hello' });
    assert.ok(created.result, JSON.stringify(created));
    const sid = created.result.id;
    await waitIdle(e, sid);

    const editorOps = [['session.create', { prompt: 'x' }], ['session.send', { session: sid, text: 'x' }],
      ['session.stop', { session: sid }], ['session.pause', { session: sid }],
      ['session.resume', { session: sid }], ['session.clone', { session: sid }],
      ['session.delete', { session: sid }]];
    const adminOps = [['token.create', { role: 'viewer' }], ['token.list', {}], ['token.revoke', { id: '0000000000000000' }]];
    for (const [m, p] of [...editorOps, ...adminOps]) {
      const r = await v.call(m, p);
      assert.equal(r.error?.code, ERR.forbidden, 'viewer ' + m);
      assert.equal(r.error.data.field, 'method');
    }
    for (const [m, p] of adminOps) assert.equal((await e.call(m, p)).error?.code, ERR.forbidden, 'editor ' + m);
    for (const m of ['server.info', 'session.list']) assert.ok((await v.call(m)).result, 'viewer ' + m);
    assert.ok((await v.call('session.get', { session: sid })).result);
    const sub = await v.call('events.subscribe', { session: sid, since: 0 });
    assert.ok(sub.result);
    assert.ok((await v.call('events.unsubscribe', { session: sid })).result);

    // The editor's operations work for an editor.
    assert.ok((await e.call('session.send', { session: sid, text: 'again' })).result?.accepted);
    await waitIdle(e, sid);
    const cl = await e.call('session.clone', { session: sid, with_history: false });
    assert.ok(cl.result?.id, JSON.stringify(cl));
    assert.ok((await e.call('session.stop', { session: cl.result.id })).result);
    assert.ok((await e.call('session.delete', { session: cl.result.id })).result?.deleted);
    assert.equal((await e.call('session.get', { session: cl.result.id })).error.code, ERR.unknownSession);

    // Admin: tokens.
    const t = await a.call('token.create', { role: 'viewer', name: 'via-api' });
    assert.match(t.result.token, /^agentd_[0-9a-f]{16}_[0-9a-f]{64}$/);
    const list = await a.call('token.list');
    assert.ok(list.result.tokens.some((x) => x.id === t.result.id && x.role === 'viewer'));
    assert.ok(!JSON.stringify(list.result).includes(t.result.token), 'list never shows a token');
    const info = await a.call('server.info');
    assert.ok(info.result.methods.includes('token.create'));
    const vinfo = await v.call('server.info');
    assert.ok(!vinfo.result.methods.includes('session.create'));
    await Promise.all([v.close(), e.close(), a.close()]);
  });

  test('secrets over the API: admin only, write-only, never echoed', async () => {
    const value = 'canary-api-secret-' + Date.now().toString(36) + '-f00dfeed';
    const v = await connect(srv.url, { token: viewer.token });
    const e = await connect(srv.url, { token: editor.token });
    const a = await connect(srv.url, { token: admin.token });
    for (const c of [v, e]) {
      for (const [m, p] of [['secret.set', { name: 'API_CANARY', value }], ['secret.list', {}],
        ['secret.remove', { name: 'API_CANARY' }]]) {
        assert.equal((await c.call(m, p)).error?.code, ERR.forbidden, m);
      }
    }
    const set = await a.call('secret.set', { name: 'API_CANARY', value });
    assert.deepEqual(set.result, { name: 'API_CANARY', created: true });
    const again = await a.call('secret.set', { name: 'API_CANARY', value: value + '-2' });
    assert.equal(again.result.created, false);
    const list = await a.call('secret.list');
    const entry = list.result.secrets.find((x) => x.name === 'API_CANARY');
    assert.ok(entry && entry.scope === 'global' && entry.created && entry.updated, JSON.stringify(list));
    assert.ok(!JSON.stringify(list).includes(value), 'no method returns a value');
    const short = await a.call('secret.set', { name: 'API_SHORT', value: 'abc' });
    assert.equal(short.error?.code, ERR.invalidParams);
    assert.equal(short.error.data.field, 'value');
    const badName = await a.call('secret.set', { name: '1-bad name', value });
    assert.equal(badName.error?.code, ERR.invalidParams);
    assert.equal((await a.call('secret.remove', { name: 'API_CANARY' })).result?.removed, true);
    assert.equal((await a.call('secret.remove', { name: 'API_CANARY' })).error?.code, ERR.invalidParams);
    assert.ok(!srv.logs.includes(value), 'the value never reaches the log');
    await Promise.all([v.close(), e.close(), a.close()]);
  });

  test('bad requests get errors naming the field, and the connection stays usable', async () => {
    const c = await connect(srv.url, { token: editor.token });
    const cases = [
      ['not json at all', ERR.parse, undefined],
      ['[{"jsonrpc":"2.0","id":1,"method":"server.info"}]', ERR.invalidRequest, undefined],
      ['"a string"', ERR.invalidRequest, undefined],
      ['{"id":7,"method":"server.info"}', ERR.invalidRequest, 'jsonrpc'],
      ['{"jsonrpc":"2.0","id":7}', ERR.invalidRequest, 'method'],
      ['{"jsonrpc":"2.0","id":7,"method":"nope"}', ERR.noMethod, 'method'],
      ['{"jsonrpc":"2.0","id":7,"method":"session.get","params":[1]}', ERR.invalidParams, 'params'],
      ['{"jsonrpc":"2.0","id":7,"method":"session.get","params":{}}', ERR.invalidParams, 'session'],
      ['{"jsonrpc":"2.0","id":7,"method":"session.get","params":{"session":5}}', ERR.invalidParams, 'session'],
      ['{"jsonrpc":"2.0","id":7,"method":"session.get","params":{"session":"s-nope"}}', ERR.unknownSession, 'session'],
      ['{"jsonrpc":"2.0","id":7,"method":"session.send","params":{"session":"s-nope","text":"x"}}', ERR.unknownSession, 'session'],
      ['{"jsonrpc":"2.0","id":7,"method":"session.get","params":{"session":"x","bogus":1}}', ERR.invalidParams, 'bogus'],
      ['{"jsonrpc":"2.0","id":7,"method":"events.subscribe","params":{"session":"s-nope"}}', ERR.unknownSession, 'session'],
      ['{"jsonrpc":"2.0","id":7,"method":"events.subscribe","params":{"session":"x","since":-1}}', ERR.invalidParams, 'since'],
      ['{"jsonrpc":"2.0","id":7,"method":"events.subscribe","params":{"session":"x","since":"3"}}', ERR.invalidParams, 'since'],
      ['{"jsonrpc":"2.0","id":7,"method":"session.create","params":{"prompt":5}}', ERR.invalidParams, undefined],
      ['{"jsonrpc":"2.0","id":7,"method":"session.clone","params":{"session":"x","with_history":"yes"}}', ERR.unknownSession, 'session'],
      ['{"jsonrpc":"2.0","id":7,"method":"events.unsubscribe","params":{"session":"x"}}', ERR.state, 'session'],
      ['{"jsonrpc":"2.0","id":7,"id":8,"method":"server.info"}', ERR.parse, undefined],
    ];
    for (const [text, code, field] of cases) {
      c.notes.length = 0;
      const idMatch = /"id":7/.test(text) && !/"id":8/.test(text);
      let r;
      if (idMatch) r = await c.raw(text, 7);
      else {
        c.ws.send(text);
        await c.until(() => c.notes.length > 0, 5000, 'error for ' + text);
        r = c.notes[0];
      }
      assert.equal(r.error?.code, code, text + ' -> ' + JSON.stringify(r));
      assert.equal(typeof r.error.message, 'string');
      if (field) assert.equal(r.error.data?.field, field, text + ' -> ' + JSON.stringify(r));
      assert.ok((await c.call('server.info')).result, 'usable after ' + text);
    }
    // Invalid UTF-8 in a text frame.
    c.notes.length = 0;
    c.ws.send(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), { binary: false });
    await c.until(() => c.notes.length > 0 || c.closeInfo, 5000, 'invalid utf-8 answer');
    assert.equal(c.notes[0]?.error?.code, ERR.parse, JSON.stringify(c.notes));
    assert.ok((await c.call('server.info')).result, 'usable after invalid UTF-8');
    // A binary frame.
    c.notes.length = 0;
    c.ws.send(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"server.info"}'), { binary: true });
    await c.until(() => c.notes.length > 0, 5000, 'binary error');
    assert.equal(c.notes[0].error.code, ERR.parse);
    // Oversized (limits.max_message_bytes = 65536), in one frame and in fragments.
    c.notes.length = 0;
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'session.create', params: { prompt: 'x'.repeat(100000) } }));
    await c.until(() => c.notes.length > 0, 5000, 'too large');
    assert.equal(c.notes[0].error.code, ERR.tooLarge);
    assert.ok(c.notes[0].error.data.bytes > 65536);
    c.notes.length = 0;
    const big = 'y'.repeat(30000);
    c.ws.send(big, { fin: false });
    c.ws.send(big, { fin: false });
    c.ws.send(big, { fin: true });
    await c.until(() => c.notes.length > 0, 5000, 'too large (fragments)');
    assert.equal(c.notes[0].error.code, ERR.tooLarge);
    assert.ok((await c.call('server.info')).result, 'usable after oversized');
    // Just under the limit is fine.
    const ok = await c.call('session.list', undefined);
    assert.ok(ok.result);
    // A notification (no id) gets no answer, even when wrong.
    c.notes.length = 0;
    c.ws.send('{"jsonrpc":"2.0","method":"nope"}');
    assert.ok((await c.call('server.info')).result);
    assert.equal(c.notes.length, 0);
    await c.close();
  });

  test('replay while events flow: every subscriber gets exactly the log', async () => {
    const e = await connect(srv.url, { token: editor.token });
    const created = await e.call('session.create', { prompt: 'lines 3000 every 1' });
    const sid = created.result.id;
    const subs = [];
    // Subscribers join at different moments while the agent writes, with
    // different cursors.
    for (let i = 0; i < 6; i++) {
      await sleep(250);
      const c = await connect(srv.url, { token: viewer.token });
      const since = i % 2 === 0 ? 0 : Math.max(0, c.events.length, i * 7);
      const r = await c.call('events.subscribe', { session: sid, since });
      assert.ok(r.result, JSON.stringify(r));
      subs.push({ c, since });
    }
    await waitIdle(e, sid, 60000);
    const stored = srv.storedEvents(sid);
    const last = stored[stored.length - 1].seq;
    for (const { c, since } of subs) {
      await c.until(() => c.events.length && c.events[c.events.length - 1].seq >= last, 20000, 'all events');
      const seqs = checkGapless(c.events, sid, since + 1);
      assert.equal(seqs[seqs.length - 1], last);
      const want = stored.filter((x) => x.seq > since);
      assert.deepEqual(c.events.map((x) => ({ seq: x.seq, type: x.type })), want);
      await c.close();
    }
    assert.ok(stored.filter((x) => x.type === 'agent.text').length >= 3000);
    await e.close();
  });

  test('batch: true groups queued events into JSON-RPC batches; same events, same order', async () => {
    const e = await connect(srv.url, { token: editor.token });
    const sid = (await e.call('session.create', { prompt: 'lines 4000' })).result.id;
    await waitIdle(e, sid, 60000);
    const bad = await e.call('events.subscribe', { session: sid, batch: 'yes' });
    assert.equal(bad.error.code, -32602);
    assert.equal(bad.error.data.field, 'batch');
    // Replay (pages of stored events queue up at once) and then a live
    // flood, to a client that takes batches and to one that does not.
    const batched = await connect(srv.url, { token: viewer.token });
    const plain = await connect(srv.url, { token: viewer.token });
    assert.ok((await batched.call('events.subscribe', { session: sid, since: 0, batch: true })).result);
    assert.ok((await plain.call('events.subscribe', { session: sid, since: 0, batch: false })).result);
    assert.ok((await e.call('session.send', { session: sid, text: 'lines 4000' })).result);
    await waitIdle(e, sid, 60000);
    const stored = srv.storedEvents(sid);
    const last = stored[stored.length - 1].seq;
    for (const c of [batched, plain]) {
      await c.until(() => c.events.length && c.events[c.events.length - 1].seq >= last, 30000, 'all events');
      checkGapless(c.events, sid, 1);
      assert.deepEqual(c.events.map((x) => ({ seq: x.seq, type: x.type })), stored);
      assert.deepEqual(c.notes.filter((n) => n.inBatch), [], 'only event notifications are batched');
    }
    assert.deepEqual(batched.events, plain.events);
    assert.ok(batched.batches.length > 0, 'the replay came in batches');
    assert.ok(batched.batches.length < stored.length / 4, `few messages: ${batched.batches.length}`);
    for (const b of batched.batches) {
      assert.ok(b.size >= 2, 'a batch holds two events or more (one goes alone)');
      assert.ok(b.bytes <= 65536, `a batch is at most 64 KiB: ${b.bytes}`);
    }
    assert.equal(plain.batches.length, 0, 'no batch without batch: true');
    for (const c of [batched, plain, e]) await c.close();
  });

  test('a cursor older than what is retained gets its own error', async () => {
    const e = await connect(srv.url, { token: editor.token });
    const sid = (await e.call('session.create', { prompt: 'lines 30' })).result.id;
    await waitIdle(e, sid);
    srv.deleteEventsUpTo(sid, 10); // what retention does
    const r = await e.call('events.subscribe', { session: sid, since: 3 });
    assert.equal(r.error?.code, ERR.cursorTooOld, JSON.stringify(r));
    assert.equal(e.events.length, 0);
    const ok = await e.call('events.subscribe', { session: sid, since: 10 });
    assert.ok(ok.result);
    await e.until(() => e.events.length >= ok.result.last_seq - 10);
    checkGapless(e.events, sid, 11);
    const past = await e.call('events.subscribe', { session: sid, since: 100000 });
    assert.equal(past.error?.code, ERR.state); // already subscribed on this connection
    await e.close();
    const f = await connect(srv.url, { token: viewer.token });
    const p2 = await f.call('events.subscribe', { session: sid, since: 100000 });
    assert.equal(p2.error?.code, ERR.invalidParams);
    assert.equal(p2.error.data.field, 'since');
    await f.close();
  });

  test('a slow client is told its cursor and closed while another keeps up; it resumes', async () => {
    const e = await connect(srv.url, { token: editor.token });
    const sid = (await e.call('session.create', { prompt: 'hi' })).result.id;
    await waitIdle(e, sid);
    const fast = await connect(srv.url, { token: viewer.token });
    const slow = await connect(srv.url, { token: viewer.token });
    assert.ok((await fast.call('events.subscribe', { session: sid, since: 0 })).result);
    assert.ok((await slow.call('events.subscribe', { session: sid, since: 0 })).result);
    await slow.until(() => slow.events.length > 0);
    slow.ws._socket.pause(); // stops reading
    assert.ok((await e.call('session.send', { session: sid, text: 'lines 60000' })).result);
    const results = (c) => c.events.filter((x) => x.type === 'agent.result').length;
    await fast.until(() => results(fast) >= 2, 60000, 'fast client: the second result');
    await waitIdle(e, sid, 60000);
    const stored = srv.storedEvents(sid);
    const last = stored[stored.length - 1].seq;
    await fast.until(() => fast.events.length && fast.events[fast.events.length - 1].seq >= last, 30000, 'fast client');
    checkGapless(fast.events, sid, 1);
    slow.ws._socket.resume();
    const cl = await slow.closed;
    assert.equal(cl.code, 1008, JSON.stringify(cl));
    const note = slow.notes.find((n) => n.method === 'events.overflow');
    assert.ok(note, 'events.overflow before the close: ' + JSON.stringify(slow.notes));
    const mine = note.params.subscriptions.find((s) => s.session === sid);
    const got = checkGapless(slow.events, sid, 1);
    assert.equal(mine.last_seq, got[got.length - 1], 'last_seq is the last event delivered');
    assert.ok(mine.last_seq < last, 'the slow client really fell behind');
    // It resumes from its cursor and gets exactly the rest.
    const again = await connect(srv.url, { token: viewer.token });
    assert.ok((await again.call('events.subscribe', { session: sid, since: mine.last_seq })).result);
    await again.until(() => again.events.length && again.events[again.events.length - 1].seq >= last, 30000, 'resume');
    checkGapless(again.events, sid, mine.last_seq + 1);
    const m = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
    assert.ok(/agentd_api_slow_disconnects_total [1-9]/.test(m));
    await Promise.all([again.close(), fast.close(), e.close()]);
  });

  test('keepalive: a peer that answers no ping is dropped, one that does stays', async () => {
    const live = await connect(srv.url, { token: viewer.token });
    const dead = await connect(srv.url, { token: viewer.token, wsOptions: { autoPong: false } });
    let pings = 0;
    dead.ws.on('ping', () => pings++);
    const t0 = Date.now();
    const cl = await dead.closed;
    const took = Date.now() - t0;
    assert.ok(pings >= 1, 'server pinged');
    assert.ok(took >= 3000 && took < 15000, 'closed after idle_timeout_s (took ' + took + ' ms)');
    assert.ok(cl.code !== 1000 || true);
    assert.ok((await live.call('server.info')).result, 'the answering peer is still connected');
    await live.close();
  });

  test('handshake timeout: a TCP peer that never upgrades is closed', async () => {
    const s = net.connect(srv.port, '127.0.0.1');
    const t0 = Date.now();
    await new Promise((r) => s.on('close', r));
    const took = Date.now() - t0;
    assert.ok(took < 10000, 'closed after ' + took + ' ms');
  });
});

describe('api limits', () => {
  test('max connections, total and per address', async () => {
    const srv = new Server({ api: { max_connections: 4, max_connections_per_address: 3 } });
    await srv.start();
    try {
      const t = srv.token('viewer');
      const cs = [];
      for (let i = 0; i < 3; i++) cs.push(await connect(srv.url, { token: t.token }));
      await assert.rejects(new Client(srv.url, { token: t.token }).open(), (e) => e.status === 503);
      // Another loopback address is another peer.
      cs.push(await connect(`ws://127.0.0.1:${srv.port}/`, { token: t.token, wsOptions: { localAddress: '127.0.0.2' } }));
      await assert.rejects(new Client(srv.url, { token: t.token, wsOptions: { localAddress: '127.0.0.3' } }).open(), (e) => e.status === 503);
      await cs[0].close();
      await sleep(100);
      cs[0] = await connect(srv.url, { token: t.token });
      await Promise.all(cs.map((c) => c.close()));
    } finally { await srv.cleanup(); }
  });

  test('1,000 connections at once, each subscribed and served', async () => {
    const srv = new Server({ api: { max_connections: 1100, max_connections_per_address: 1100 } });
    await srv.start();
    try {
      const ed = srv.token('editor');
      const e = await connect(srv.url, { token: ed.token });
      const sid = (await e.call('session.create', { prompt: 'hello' })).result.id;
      await waitIdle(e, sid);
      const t = srv.token('viewer');
      const cs = [];
      for (let i = 0; i < 1000; i += 100) {
        const batch = [];
        for (let k = 0; k < 100; k++) batch.push(connect(srv.url, { token: t.token }));
        cs.push(...await Promise.all(batch));
      }
      assert.equal(cs.length, 1000);
      const m = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
      assert.match(m, /agentd_api_connections 1001/);
      const rs = await Promise.all(cs.map((c) => c.call('events.subscribe', { session: sid, since: 0 })));
      assert.ok(rs.every((r) => r.result));
      assert.ok((await e.call('session.send', { session: sid, text: 'lines 20' })).result);
      await waitIdle(e, sid);
      const last = srv.storedEvents(sid).at(-1).seq;
      await Promise.all(cs.map((c) => c.until(() => c.events.length && c.events.at(-1).seq >= last, 60000, 'events')));
      for (const c of cs) checkGapless(c.events, sid, 1);
      await Promise.all(cs.map((c) => c.close()));
      await e.close();
    } finally { await srv.cleanup(); }
  });
});

describe('api tls and static files', () => {
  test('wss:// with a configured certificate; /ui/ serves api.static_dir', async () => {
    const { spawnSync } = await import('node:child_process');
    const fs = await import('node:fs');
    const https = await import('node:https');
    const dir = fs.mkdtempSync('/tmp/aa-tls-');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', dir + '/key.pem',
      '-out', dir + '/cert.pem', '-days', '2', '-subj', '/CN=127.0.0.1']);
    assert.equal(r.status, 0, String(r.stderr));
    fs.mkdirSync(dir + '/ui');
    fs.writeFileSync(dir + '/ui/index.html', '<html>agentd dashboard placeholder</html>');
    const srv = new Server({ api: { tls_cert: dir + '/cert.pem', tls_key: dir + '/key.pem', static_dir: dir + '/ui' } });
    const get = (path) => new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: srv.port, path, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      }).on('error', reject);
    });
    try {
      await srv.start();
      assert.equal((await get('/healthz')).status, 200);
      const ui = await get('/ui/');
      assert.equal(ui.status, 200);
      assert.match(ui.body, /dashboard placeholder/);
      const t = srv.token('viewer');
      const c = await connect(`wss://127.0.0.1:${srv.port}/`, { token: t.token, wsOptions: { rejectUnauthorized: false } });
      assert.equal((await c.call('server.info')).result.role, 'viewer');
      await c.close();
      // Plain ws:// to a TLS port does not get in.
      await assert.rejects(new Client(srv.url, { token: t.token }).open());
      // Only one of the two: a config error.
      const bad = dir + '/bad.json';
      fs.writeFileSync(bad, JSON.stringify({ api: { tls_cert: dir + '/cert.pem' } }));
      const chk = spawnSync(process.env.AGENTD_BIN, ['--config', bad, 'config', 'check'], { encoding: 'utf8' });
      assert.notEqual(chk.status, 0);
      assert.match(chk.stdout + chk.stderr, /tls_key/);
    } finally {
      await srv.cleanup();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('api restart', () => {
  test('reconnect after the server was killed (-9) and restarted: resume exactly', async () => {
    const srv = new Server();
    await srv.start();
    try {
      const ed = srv.token('editor');
      let c = await connect(srv.url, { token: ed.token });
      const sid = (await c.call('session.create', { prompt: 'lines 200' })).result.id;
      assert.ok((await c.call('events.subscribe', { session: sid, since: 0 })).result);
      await c.until(() => c.events.length >= 20);
      await srv.kill9();
      await c.closed;
      const seen = checkGapless(c.events, sid, 1);
      const cursor = seen[seen.length - 1];
      await srv.start();
      c = await connect(srv.url, { token: ed.token });
      const r = await c.call('events.subscribe', { session: sid, since: cursor });
      assert.ok(r.result, JSON.stringify(r));
      const stored = srv.storedEvents(sid);
      const last = stored.at(-1).seq;
      await c.until(() => last === cursor || (c.events.length && c.events.at(-1).seq >= last), 20000, 'rest');
      checkGapless(c.events, sid, cursor + 1);
      assert.deepEqual([...seen, ...c.events.map((x) => x.seq)], stored.map((x) => x.seq).filter((s) => s <= last));
      // The session is still usable after the restart (interrupted: a message continues it).
      const g = await c.call('session.get', { session: sid });
      assert.ok(g.result.state, JSON.stringify(g));
      await c.close();
    } finally { await srv.cleanup(); }
  });
});
