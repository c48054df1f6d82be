// Graceful shutdown of the WebSocket API: on SIGTERM (or SIGINT) every open
// WebSocket gets a close frame with code 1001 (going away) and a reason,
// after the events already due to it, before the daemon exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, connect, checkGapless, sleep } from './harness.mjs';

async function idle(c, session) {
  const end = Date.now() + 30000;
  for (;;) {
    const r = await c.call('session.get', { session });
    if (r.result && r.result.state === 'idle') return r.result;
    if (Date.now() > end) throw new Error('session never went idle: ' + JSON.stringify(r));
    await sleep(50);
  }
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`${signal}: every WebSocket is closed with 1001 and a reason, after its events`, async () => {
    const srv = new Server();
    await srv.start();
    try {
      const tok = srv.token('editor');
      const ctl = await connect(srv.url, { token: tok.token });
      const s = (await ctl.call('session.create', { prompt: 'lines 50' })).result.id;
      const info = await idle(ctl, s);
      assert.ok(info.last_seq > 50, 'the session wrote its lines');

      // A subscriber that has its session's events, one that is subscribed
      // and idle, and one that never authenticated.
      const sub = await connect(srv.url, { token: tok.token });
      const r = await sub.call('events.subscribe', { session: s, since: 0 });
      assert.equal(r.result.last_seq, info.last_seq);
      await sub.until(() => sub.events.length >= info.last_seq, 20000, 'the replay');
      const anon = await connect(srv.url);

      srv.proc.kill(signal);
      const closes = await Promise.all([ctl.closed, sub.closed, anon.closed]);
      for (const c of closes) {
        assert.equal(c.code, 1001, JSON.stringify(c));
        assert.match(c.reason, /shutting down/);
      }
      // Nothing due to the subscriber was dropped on the way out.
      checkGapless(sub.events, s, 1);
      assert.ok(sub.events.length >= info.last_seq);
      const exit = await srv.exited;
      assert.equal(exit.code, 0, srv.logs);
    } finally {
      await srv.cleanup();
    }
  });
}
