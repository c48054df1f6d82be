// The `agentd` client commands (session, attach) against the real daemon.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Server, AGENTD, sleep } from './harness.mjs';

describe('cli client', () => {
  let srv, editor, viewer;
  before(async () => {
    srv = new Server();
    await srv.start();
    editor = srv.token('editor');
    viewer = srv.token('viewer');
  });
  after(async () => { await srv.cleanup(); });

  const run = (token, ...args) => {
    srv.cliEnv = { AGENTD_TOKEN: token };
    return srv.cli(...args);
  };
  async function waitState(sid, states) {
    for (let i = 0; i < 300; i++) {
      const r = run(editor.token, 'session', 'show', sid, '--json');
      if (r.code === 0 && states.includes(JSON.parse(r.out).state)) return JSON.parse(r.out);
      await sleep(100);
    }
    throw new Error('never reached ' + states);
  }

  test('session create|ls|show|send|pause|resume|stop|clone|rm, --json, exit codes', async () => {
    const c = run(editor.token, 'session', 'create', '--prompt', 'hello', '--name', 'cli-one', '--json');
    assert.equal(c.code, 0, c.err);
    const sid = JSON.parse(c.out).id;
    assert.match(sid, /^s-/);
    await waitState(sid, ['idle']);
    const ls = run(viewer.token, 'session', 'ls', '--json');
    assert.equal(ls.code, 0, ls.err);
    assert.ok(JSON.parse(ls.out).sessions.some((s) => s.id === sid && s.name === 'cli-one'));
    const human = run(viewer.token, 'session', 'ls');
    assert.match(human.out, new RegExp(sid));
    assert.equal(run(editor.token, 'session', 'send', sid, 'lines 2').code, 0);
    await waitState(sid, ['idle']);
    assert.equal(run(editor.token, 'session', 'pause', sid).code, 0);
    assert.equal((await waitState(sid, ['paused'])).state, 'paused');
    const rs = run(editor.token, 'session', 'resume', sid, '--json');
    assert.equal(rs.code, 0, rs.err);
    assert.equal(run(editor.token, 'session', 'stop', sid).code, 0);
    const cl = run(editor.token, 'session', 'clone', sid, '--json');
    assert.equal(cl.code, 0, cl.err);
    const cid = JSON.parse(cl.out).id;
    assert.notEqual(cid, sid);
    assert.equal(run(editor.token, 'session', 'rm', cid, '--purge').code, 0);
    assert.equal(run(editor.token, 'session', 'show', cid).code, 1);

    // Failures: 1; usage: 2.
    const unknown = run(editor.token, 'session', 'show', 's-nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /no session/);
    assert.equal(run(viewer.token, 'session', 'create', '--prompt', 'x').code, 1); // role
    assert.equal(run('agentd_0000000000000000_' + '0'.repeat(64), 'session', 'ls').code, 1);
    assert.equal(run('', 'session', 'ls').code, 1);
    assert.equal(run(editor.token, 'session', 'show').code, 2);
    assert.equal(run(editor.token, 'session', 'frobnicate').code, 2);
    assert.equal(run(editor.token, 'session', 'ls', '--server', 'http://x').code, 1);
    assert.equal(run(editor.token, 'attach').code, 2);
    const off = run(editor.token, 'session', 'ls', '--server', 'ws://127.0.0.1:1/');
    assert.equal(off.code, 1);
  });

  test('attach follows, survives a server restart (kill -9) and resumes exactly', async () => {
    const c = run(editor.token, 'session', 'create', '--prompt', 'lines 5', '--json');
    const sid = JSON.parse(c.out).id;
    await waitState(sid, ['idle']);
    const att = spawn(AGENTD, ['--config', srv.config, 'attach', sid, '--json'],
      { env: { ...process.env, AGENTD_TOKEN: viewer.token }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    att.stdout.on('data', (d) => { out += d; });
    att.stderr.on('data', (d) => { err += d; });
    const seqs = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l).seq);
    const waitFor = async (pred, what) => {
      for (let i = 0; i < 300 && !pred(); i++) await sleep(100);
      assert.ok(pred(), what + '\nstdout: ' + out.slice(-500) + '\nstderr: ' + err);
    };
    try {
      let last = srv.storedEvents(sid).at(-1).seq;
      await waitFor(() => seqs().at(-1) === last, 'attach printed the stored events');
      await srv.kill9();
      await sleep(300);
      await srv.start();
      assert.equal(run(editor.token, 'session', 'send', sid, 'lines 7').code, 0);
      await sleep(500);
      await waitState(sid, ['idle']);
      const stored = srv.storedEvents(sid);
      last = stored.at(-1).seq;
      await waitFor(() => seqs().at(-1) === last, 'attach resumed after the restart');
      assert.deepEqual(seqs(), stored.map((e) => e.seq), 'nothing missing, nothing twice');
      assert.match(err, /reconnecting to resume after seq/);
    } finally {
      att.kill('SIGTERM');
    }
    // A cursor too old, an unknown session: attach exits 1.
    const bad = run(viewer.token, 'attach', 's-nope');
    assert.equal(bad.code, 1);
  });
});
