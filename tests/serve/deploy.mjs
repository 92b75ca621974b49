// deploy.mjs — examples/deploy/run.sh on loopback: two `vkagent serve`
// replicas behind HAProxy, driven through the balancer with the official
// `openai` client. Requests with the same X-Session-Id stick to one replica;
// SIGTERM to a replica in the middle of a run loses no request: what it was
// doing finishes, new requests go to the other.
// usage: node deploy.mjs VKAGENT_EXE MODEL.gguf
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

const [exe, model] = process.argv.slice(2);
if (!existsSync(model)) {
  console.log(`SKIP: fixture missing: ${model} (set VKAGENT_TEST_DATA)`);
  process.exit(77);
}
if (spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0) {
  console.log('SKIP: haproxy not found (scripts/setup installs it: apt-get install haproxy)');
  process.exit(77);
}
if (!existsSync(new URL('../validator/node_modules/openai/package.json', import.meta.url))) {
  console.log('FAIL: the openai client is not installed in tests/validator (run ./scripts/setup, which runs npm ci there)');
  process.exit(1);
}
const { default: OpenAI } = createRequire(new URL('../validator/package.json', import.meta.url))('openai');
const runSh = new URL('../../examples/deploy/run.sh', import.meta.url).pathname;

const portFree = (port) => new Promise((resolve) => {
  const srv = createServer().once('error', () => resolve(false));
  srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
});

// Three consecutive free ports: the balancer's and the two replicas'.
async function freeBase() {
  for (let i = 0; i < 50; i++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    if ((await portFree(base)) && (await portFree(base + 1)) && (await portFree(base + 2))) return base;
  }
  throw new Error('no three consecutive free ports');
}

let dir, run, base, client;
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const log = (i) => readFileSync(join(dir, `replica-${i}.log`), 'utf8');
const served = (i) => (log(i).match(/request \d+: /g) || []).length;

async function healthy(port) {
  const r = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
  return r !== null && r.status === 200;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vkagent-deploy-'));
  base = await freeBase();
  run = spawn(runSh, [model, '2', String(base)], {
    env: { ...process.env, VKAGENT: exe, VKAGENT_DEPLOY_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  run.stderr.on('data', (d) => { out += d; });
  for (let i = 0; i < 600; i++) {
    // both replicas ready, and the balancer has seen them (rise 2 x inter 500 ms)
    if ((await healthy(base + 1)) && (await healthy(base + 2)) && (await healthy(base))) {
      await sleep(1200);
      break;
    }
    if (run.exitCode !== null) throw new Error(`run.sh exited (${run.exitCode}): ${out}`);
    await sleep(100);
  }
  assert.ok(await healthy(base), `the balancer is not ready: ${out}`);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${base}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60000 });
});

after(async () => {
  if (run && run.exitCode === null) {
    const exited = new Promise((res) => run.on('exit', res));
    run.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('requests with the same X-Session-Id go to the same replica', async () => {
  const before1 = served(1), before2 = served(2);
  for (let i = 0; i < 6; i++) {
    await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 4, seed: i },
      { headers: { 'X-Session-Id': 'conversation-42' } });
  }
  await sleep(100);
  const got = [served(1) - before1, served(2) - before2].sort();
  assert.deepEqual(got, [0, 6]);
});

test('SIGTERM to a replica mid-run loses no request', async () => {
  const pid = Number(readFileSync(join(dir, 'replica-1.pid'), 'utf8'));
  const until = Date.now() + 3000;
  let killedAt = null, started = 0, afterKill = 0;
  const errors = [];
  const clientLoop = async (c) => {
    for (let n = 0; Date.now() < until; n++) {
      started++;
      if (killedAt !== null) afterKill++;
      try {
        // long answers (EOS banned), streamed, so that some are in flight at the signal
        let text = '', finish = null;
        const stream = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 300,
          seed: c * 100 + n, logit_bias: { 2: -100 }, stream: true });
        for await (const chunk of stream) {
          text += chunk.choices[0]?.text ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        if (finish !== 'length' || text.length === 0) errors.push(`finish ${finish}, ${text.length} bytes`);
      } catch (e) {
        errors.push(String(e));
      }
    }
  };
  // the signal goes while replica 1 reports a request running (each takes
  // hundreds of milliseconds), so that there is something in flight to finish
  const running = async () => {
    const r = await fetch(`http://127.0.0.1:${base + 1}/health`).catch(() => null);
    return r !== null && r.status === 200 && (await r.json()).requests_running > 0;
  };
  const killer = (async () => {
    await sleep(1000);
    for (let i = 0; i < 200 && !(await running()); i++) await sleep(5);
    process.kill(pid, 'SIGTERM');
    killedAt = Date.now();
  })();
  await Promise.all([killer, ...Array.from({ length: 6 }, (_, c) => clientLoop(c))]);
  assert.deepEqual(errors, []);
  assert.ok(afterKill > 0, 'no request started after the signal');
  // the replica finished what it had, then stopped
  for (let i = 0; i < 100 && !/stopped/.test(log(1)); i++) await sleep(100);
  const text = log(1);
  assert.match(text, /stopped/);
  const afterSignal = text.slice(text.indexOf('finishing the requests in flight'));
  assert.ok(/request \d+: max_tokens/.test(afterSignal), `nothing was in flight at the signal:\n${text}`);
  assert.doesNotMatch(text, /cancelled/);
  assert.ok(started > 6);
});
