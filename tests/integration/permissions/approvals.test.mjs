// Live approvals (issue 7): the real Claude Code CLI, in the real seccomp
// sandbox, proposes tools to a scripted model's orders; the permission engine
// allows and denies by rule, and asks a person for the rest. People answer
// over the WebSocket API from an independent client (npm `ws`).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Server, connect } from '../api/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = fs.realpathSync(path.join(here, '..', '..', 'node_modules'));
const CLAUDE = fs.realpathSync(path.join(NODE_MODULES, '.bin', 'claude'));
const ERR = { invalidParams: -32602, forbidden: -32002, notPending: -32008 };

const tool = (name, input) => ({ type: 'tool_use', name, input });
const say = (s) => ({ type: 'text', text: s });

// One script per test, picked by the "[script:NAME]" in the first message.
function scripts(ws) {
  const q = { questions: [{ question: 'Which colour?', header: 'Colour', multiSelect: false,
    options: [{ label: 'red', description: 'warm' }, { label: 'blue', description: 'cold' }] }] };
  return {
    once: [[tool('Write', { file_path: path.join(ws.once, 'a.txt'), content: 'approved\n' })],
      [say('wrote a.txt')]],
    rules: [[tool('Bash', { command: 'touch by-rule.txt' })],
      [tool('Bash', { command: 'git push origin main' })],
      [tool('Write', { file_path: path.join(ws.rules, 'b.txt'), content: 'no\n' })],
      [say('done')]],
    timeout: [[tool('Write', { file_path: path.join(ws.timeout, 'c.txt'), content: 'late\n' })],
      [say('gave up')]],
    always: [[tool('Bash', { command: 'touch always.txt' })],
      [tool('Bash', { command: 'touch always.txt' })],
      [say('touched twice')]],
    question: [[tool('AskUserQuestion', q)], [say('thanks')]],
    mode: [[say('hello')],
      [tool('Write', { file_path: path.join(ws.mode, 'plan.txt'), content: 'x\n' })],
      [say('planned')],
      [tool('ExitPlanMode', { plan: 'write plan.txt' })],
      [tool('Write', { file_path: path.join(ws.mode, 'plan.txt'), content: 'x\n' })],
      [say('executed')]],
    stop: [[tool('Write', { file_path: path.join(ws.stop, 'd.txt'), content: 'x\n' })],
      [say('never')]],
    cli: [[tool('Write', { file_path: path.join(ws.cli, 'e.txt'), content: 'by the cli\n' })],
      [tool('Bash', { command: 'touch cli-denied.txt' })],
      [tool('AskUserQuestion', q)],
      [say('cli done')]],
  };
}

function startModel(file) {
  return new Promise((resolve, reject) => {
    const p = spawn('python3', [path.join(here, 'model.py'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    process.on('exit', () => p.kill('SIGKILL'));
    readline.createInterface({ input: p.stdout }).once('line', (url) => resolve({ proc: p, url }));
    p.on('exit', (code) => reject(new Error('model.py exited ' + code)));
  });
}

// The model API's recorded requests are not reachable from here; what the
// model was told comes back in the agent's events (agent.tool_result).
const ofType = (c, sid, type) => c.events.filter((e) => e.session === sid && e.type === type);

describe('live approvals', () => {
  let srv, model, editor, viewer, ed, vw;
  const ws = {};

  before(async () => {
    srv = new Server();
    for (const k of ['once', 'rules', 'timeout', 'always', 'question', 'mode', 'stop', 'cli']) {
      ws[k] = path.join(srv.dir, 'ws-' + k);
      fs.mkdirSync(ws[k], { recursive: true });
    }
    const file = path.join(srv.dir, 'scripts.json');
    fs.writeFileSync(file, JSON.stringify(scripts(ws)));
    model = await startModel(file);
    srv.extra = {
      agent: { command: CLAUDE, base_url: model.url, api_key: 'sk-ant-test-not-a-real-key' },
      sandboxes: { local: { plugin: 'sandbox-seccomp', ro_paths: [NODE_MODULES] } },
      permissions: { approval_timeout_s: 600 },
    };
    await srv.start();
    editor = srv.token('editor', 'alice');
    viewer = srv.token('viewer', 'victor');
    ed = await connect(srv.url, { token: editor.token });
    vw = await connect(srv.url, { token: viewer.token });
  });
  after(async () => {
    await ed?.close();
    await vw?.close();
    await srv.stop();
    // A clean exit: under ASan a leak or an error would make it non-zero.
    const exit = await srv.exited;
    await srv.cleanup();
    model?.proc.kill('SIGKILL');
    assert.deepEqual([exit.code, exit.sig], [0, null], srv.logs.slice(-6000));
  });

  async function session(name, extra = {}) {
    const r = await ed.call('session.create', { prompt: `[script:${name}] go`, workspace: ws[name], ...extra });
    assert.ok(r.result, JSON.stringify(r.error));
    const sid = r.result.id;
    const sub = await ed.call('events.subscribe', { session: sid, since: 0 });
    assert.ok(sub.result, JSON.stringify(sub.error));
    return sid;
  }

  const metrics = async () => (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();

  const waitEvent = (sid, type, n = 1, ms = 120000) =>
    ed.until(() => ofType(ed, sid, type).length >= n, ms, `${n} ${type} of ${sid}`)
      .then(() => ofType(ed, sid, type)[n - 1]);

  test('an asked tool waits for an editor; viewers and malformed answers are refused; allow once', async () => {
    const sid = await session('once', { permissions: { allow: ['Bash(echo:*)'] } });
    const req = (await waitEvent(sid, 'permission.requested')).data;
    assert.equal(req.tool, 'Write');
    assert.equal(req.input.file_path, path.join(ws.once, 'a.txt'));
    assert.equal(req.timeout_s, 600);
    await ed.until(() => ofType(ed, sid, 'session.state').some((e) => e.data.state === 'waiting'), 10000, 'waiting');
    const got = (await ed.call('session.get', { session: sid })).result;
    assert.equal(got.state, 'waiting');
    assert.deepEqual(got.pending.map((p) => p.request_id), [req.request_id]);
    assert.match(await metrics(), /^agentd_permission_requests_pending 1$/m);

    // A viewer may watch but not answer.
    const v = await vw.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow' });
    assert.equal(v.error.code, ERR.forbidden);
    // Malformed answers name the field and change nothing.
    let r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'yes' });
    assert.equal(r.error.code, ERR.invalidParams);
    assert.equal(r.error.data.field, 'decision');
    r = await ed.call('permission.respond', { session: sid, decision: 'allow' });
    assert.equal(r.error.data.field, 'request_id');
    r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow', message: 'm' });
    assert.equal(r.error.data.field, 'message');
    r = await ed.call('permission.respond', { session: sid, request_id: 'nope', decision: 'allow' });
    assert.equal(r.error.code, ERR.notPending);
    r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow', extra: 1 });
    assert.equal(r.error.data.field, 'extra');
    assert.equal((await ed.call('session.get', { session: sid })).result.pending.length, 1);
    assert.ok(!fs.existsSync(path.join(ws.once, 'a.txt')));

    r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow' });
    assert.ok(r.result, JSON.stringify(r.error));
    await waitEvent(sid, 'agent.result');
    assert.equal(fs.readFileSync(path.join(ws.once, 'a.txt'), 'utf8'), 'approved\n');
    const dec = ofType(ed, sid, 'permission.decided');
    assert.equal(dec.length, 1);
    assert.equal(dec[0].data.decision, 'allow');
    assert.equal(dec[0].data.by, 'person');
    assert.ok(dec[0].data.who.includes(editor.id), dec[0].data.who);
    assert.ok(dec[0].seq > ofType(ed, sid, 'permission.requested')[0].seq);

    // A second answer to the same request is refused and says what happened.
    r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'deny' });
    assert.equal(r.error.code, ERR.notPending);
    assert.match(r.error.message, /allowed by person/);
    assert.equal((await ed.call('session.get', { session: sid })).result.pending.length, 0);
  });

  test('rules decide without asking; a person denies with a message the agent sees', async () => {
    // (Commands Claude Code deems read-only, such as echo, it runs without
    // asking; touch it asks about.)
    const sid = await session('rules', { permissions: { allow: ['Bash(touch:*)', 'Bash(git:*)'] } });
    const req = (await waitEvent(sid, 'permission.requested')).data;
    assert.equal(req.tool, 'Write');
    const r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'deny', message: 'not today' });
    assert.ok(r.result, JSON.stringify(r.error));
    await waitEvent(sid, 'agent.result');
    const dec = ofType(ed, sid, 'permission.decided').map((e) => e.data);
    assert.deepEqual(dec.map((d) => [d.tool, d.decision, d.by]),
      [['Bash', 'allow', 'rule'], ['Bash', 'deny', 'system'], ['Write', 'deny', 'person']]);
    assert.equal(dec[0].rule, 'Bash(touch:*)');
    assert.ok(fs.existsSync(path.join(ws.rules, 'by-rule.txt')));
    assert.equal(ofType(ed, sid, 'permission.requested').length, 1);
    assert.ok(!fs.existsSync(path.join(ws.rules, 'b.txt')));
    const results = ofType(ed, sid, 'agent.tool_result').map((e) => JSON.stringify(e.data.content));
    assert.ok(!results[0].includes('denied'), results[0]);
    assert.ok(results[1].includes('denied by agentd'), results[1]);
    assert.ok(results[2].includes('not today'), results[2]);
  });

  test('nobody answers: the approval timeout denies, and a late answer is refused', async () => {
    const sid = await session('timeout', { permissions: { approval_timeout_s: 2 } });
    const req = (await waitEvent(sid, 'permission.requested')).data;
    assert.equal(req.timeout_s, 2);
    const dec = (await waitEvent(sid, 'permission.decided', 1, 30000)).data;
    assert.equal(dec.decision, 'deny');
    assert.equal(dec.by, 'timeout');
    await waitEvent(sid, 'agent.result');
    assert.ok(!fs.existsSync(path.join(ws.timeout, 'c.txt')));
    const r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow' });
    assert.equal(r.error.code, ERR.notPending);
    assert.match(r.error.message, /timeout/);
  });

  test('allow always adds a rule for the session; the same command is then allowed by it', async () => {
    const sid = await session('always');
    const req = (await waitEvent(sid, 'permission.requested')).data;
    assert.equal(req.input.command, 'touch always.txt');
    // A rule that would not allow this request is refused, and it stays pending.
    let r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow_always', rule: 'Bash(ls:*)' });
    assert.equal(r.error.code, ERR.invalidParams);
    assert.equal(r.error.data.field, 'rule');
    r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow_always' });
    assert.ok(r.result, JSON.stringify(r.error));
    await waitEvent(sid, 'agent.result');
    const added = ofType(ed, sid, 'permission.rule_added');
    assert.equal(added.length, 1);
    assert.equal(added[0].data.rule, 'Bash(touch always.txt)');
    assert.equal(ofType(ed, sid, 'permission.requested').length, 1);
    const dec = ofType(ed, sid, 'permission.decided').map((e) => e.data);
    assert.deepEqual(dec.map((d) => [d.decision, d.by, d.rule]),
      [['allow', 'person', 'Bash(touch always.txt)'], ['allow', 'rule', 'Bash(touch always.txt)']]);
    assert.ok(fs.existsSync(path.join(ws.always, 'always.txt')));
    const got = (await ed.call('session.get', { session: sid })).result;
    assert.deepEqual(got.settings.permissions.allow, ['Bash(touch always.txt)']);
  });

  test('the agent asks a question; an editor answers it', async () => {
    const sid = await session('question');
    const asked = (await waitEvent(sid, 'question.asked')).data;
    assert.equal(asked.questions[0].question, 'Which colour?');
    let r = await ed.call('permission.respond', { session: sid, request_id: asked.request_id, decision: 'allow' });
    assert.equal(r.error.code, ERR.invalidParams);
    assert.match(r.error.message, /question\.answer/);
    r = await vw.call('question.answer', { session: sid, request_id: asked.request_id, answers: { 'Which colour?': 'blue' } });
    assert.equal(r.error.code, ERR.forbidden);
    r = await ed.call('question.answer', { session: sid, request_id: asked.request_id, answers: { 'Which shape?': 'round' } });
    assert.equal(r.error.code, ERR.invalidParams);
    r = await ed.call('question.answer', { session: sid, request_id: asked.request_id, answers: {} });
    assert.equal(r.error.code, ERR.invalidParams);
    r = await ed.call('question.answer', { session: sid, request_id: asked.request_id, answers: { 'Which colour?': 'blue' } });
    assert.ok(r.result, JSON.stringify(r.error));
    await waitEvent(sid, 'agent.result');
    const answered = ofType(ed, sid, 'question.answered');
    assert.deepEqual(answered[0].data.answers, { 'Which colour?': 'blue' });
    const result = JSON.stringify(ofType(ed, sid, 'agent.tool_result')[0].data.content);
    assert.ok(result.includes('Which colour?') && result.includes('blue'), result);
  });

  test('the permission mode is switched over the API and reaches the running agent', async () => {
    const sid = await session('mode');
    await waitEvent(sid, 'agent.result');
    let r = await ed.call('session.set_permission_mode', { session: sid, mode: 'bypassPermissions' });
    assert.equal(r.error.code, ERR.invalidParams);
    assert.equal(r.error.data.field, 'mode');
    r = await vw.call('session.set_permission_mode', { session: sid, mode: 'plan' });
    assert.equal(r.error.code, ERR.forbidden);
    r = await ed.call('session.set_permission_mode', { session: sid, mode: 'plan' });
    assert.ok(r.result, JSON.stringify(r.error));
    assert.equal(r.result.settings.permission_mode, 'plan');
    const ev = (await waitEvent(sid, 'session.permission_mode')).data;
    assert.deepEqual([ev.mode, ev.previous, ev.agent_told], ['plan', 'default', true]);
    // The next turn runs in plan mode: the write is refused (by the CLI's
    // plan mode or by the plan phase's rules), and the agent accepted the
    // switch (no error event).
    assert.ok((await ed.call('session.send', { session: sid, text: 'write plan.txt' })).result);
    await waitEvent(sid, 'agent.result', 2);
    assert.ok(!fs.existsSync(path.join(ws.mode, 'plan.txt')));
    assert.deepEqual(ofType(ed, sid, 'error').map((e) => e.data.message), []);

    // Leaving plan mode is a person's decision (ExitPlanMode); once allowed,
    // the agent runs in the default mode and so does agentd's engine: the
    // write now asks (it no longer is the plan phase's deny).
    assert.ok((await ed.call('session.send', { session: sid, text: 'go ahead' })).result);
    const exit = (await waitEvent(sid, 'permission.requested')).data;
    assert.equal(exit.tool, 'ExitPlanMode');
    r = await ed.call('permission.respond', { session: sid, request_id: exit.request_id, decision: 'allow' });
    assert.ok(r.result, JSON.stringify(r.error));
    const back = (await waitEvent(sid, 'session.permission_mode', 2)).data;
    assert.deepEqual([back.mode, back.previous, back.agent_told], ['default', 'plan', false]);
    const write = (await waitEvent(sid, 'permission.requested', 2)).data;
    assert.equal(write.tool, 'Write');
    r = await ed.call('permission.respond', { session: sid, request_id: write.request_id, decision: 'allow' });
    assert.ok(r.result, JSON.stringify(r.error));
    await waitEvent(sid, 'agent.result', 3);
    assert.ok(fs.existsSync(path.join(ws.mode, 'plan.txt')));
    assert.equal((await ed.call('session.get', { session: sid })).result.settings.permission_mode, 'default');
  });

  test('stopping a session withdraws what waits for a person', async () => {
    const sid = await session('stop');
    const req = (await waitEvent(sid, 'permission.requested')).data;
    assert.ok((await ed.call('session.stop', { session: sid })).result);
    const cancelled = (await waitEvent(sid, 'permission.cancelled')).data;
    assert.equal(cancelled.request_id, req.request_id);
    assert.equal(cancelled.was_pending, true);
    await ed.until(() => ofType(ed, sid, 'session.state').some((e) => e.data.state === 'stopped'), 60000, 'stopped');
    const r = await ed.call('permission.respond', { session: sid, request_id: req.request_id, decision: 'allow' });
    assert.equal(r.error.code, ERR.notPending);
    assert.ok(!fs.existsSync(path.join(ws.stop, 'd.txt')));
  });

  test('the agentd CLI lists, approves, denies and answers', async () => {
    srv.cliEnv = { AGENTD_TOKEN: editor.token, AGENTD_SERVER: srv.url };
    const sid = await session('cli');
    const first = (await waitEvent(sid, 'permission.requested')).data;
    let r = srv.cli('session', 'pending', sid, '--json');
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out).pending.map((p) => p.request_id), [first.request_id]);
    r = srv.cli('session', 'pending', sid);
    assert.match(r.out, new RegExp(`${first.request_id}\\s+permission\\s+Write`));
    r = srv.cli('session', 'approve', sid);
    assert.equal(r.code, 2, 'usage: no request id');
    r = srv.cli('session', 'approve', sid, first.request_id);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /allow/);
    r = srv.cli('session', 'approve', sid, first.request_id);
    assert.equal(r.code, 1, 'a second answer fails');
    assert.match(r.err, /not pending/);
    const second = (await waitEvent(sid, 'permission.requested', 2)).data;
    r = srv.cli('session', 'deny', sid, second.request_id, '--message', 'no touching');
    assert.equal(r.code, 0, r.err);
    const asked = (await waitEvent(sid, 'question.asked')).data;
    r = srv.cli('session', 'answer', sid, asked.request_id, '--answer', 'Which colour?=red');
    assert.equal(r.code, 0, r.err);
    await waitEvent(sid, 'agent.result');
    assert.equal(fs.readFileSync(path.join(ws.cli, 'e.txt'), 'utf8'), 'by the cli\n');
    assert.ok(!fs.existsSync(path.join(ws.cli, 'cli-denied.txt')));
    assert.deepEqual(ofType(ed, sid, 'question.answered')[0].data.answers, { 'Which colour?': 'red' });
    const results = ofType(ed, sid, 'agent.tool_result').map((e) => JSON.stringify(e.data.content));
    assert.ok(results[1].includes('no touching'), results[1]);
    r = srv.cli('session', 'mode', sid, 'acceptEdits');
    assert.equal(r.code, 0, r.err);
    assert.equal((await ed.call('session.get', { session: sid })).result.settings.permission_mode, 'acceptEdits');
  });

  test('/metrics has the sandbox start latency of the sessions that ran', async () => {
    const text = await metrics();
    const count = Number(/^agentd_sandbox_start_seconds_count\{profile="local"\} (\d+)$/m.exec(text)?.[1]);
    assert.ok(count >= 8, text);
    const inf = Number(/^agentd_sandbox_start_seconds_bucket\{profile="local",le="\+Inf"\} (\d+)$/m.exec(text)?.[1]);
    assert.equal(inf, count);
    const sum = Number(/^agentd_sandbox_start_seconds_sum\{profile="local"\} ([\d.]+)$/m.exec(text)?.[1]);
    assert.ok(sum > 0 && sum / count < 30, `sum ${sum} count ${count}`);
    // Buckets are cumulative: never fewer starts under a larger bound.
    const buckets = [...text.matchAll(/^agentd_sandbox_start_seconds_bucket\{profile="local",le="([^"]+)"\} (\d+)$/gm)].map((m) => Number(m[2]));
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], buckets.join(' '));
    assert.match(text, /^agentd_sandbox_start_failures_total\{profile="local"\} 0$/m);
    assert.match(text, /^agentd_permission_requests_pending 0$/m);
  });
});
