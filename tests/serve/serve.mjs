// serve.mjs — `vkagent serve` through the official `openai` npm client (and
// plain fetch for what the client cannot send): chat, streams, completions,
// models, health, metrics, json_schema answers validated by ajv, tool calls (their
// arguments validated by ajv: several per answer, text before them, streamed
// argument by argument and reassembled by the client; a Llama 3.1 template's own
// call format, on a model given that template), n choices (each what
// a request with its seed gives alone), the error statuses, a full queue (503), a
// stream aborted mid-way (its generation is cancelled), sixteen concurrent
// clients with fixed seeds getting what they get alone, and SIGTERM
// finishing the request in flight. The servers listen on free loopback ports.
// usage: node serve.mjs VKAGENT_EXE MODEL.gguf
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

const [exe, model] = process.argv.slice(2);
if (!existsSync(model)) {
  console.log(`SKIP: fixture missing: ${model} (set VKAGENT_TEST_DATA)`);
  process.exit(77);
}
const validatorPkg = new URL('../validator/package.json', import.meta.url);
if (!existsSync(new URL('../validator/node_modules/openai/package.json', import.meta.url))) {
  console.log('FAIL: the openai client is not installed in tests/validator (run ./scripts/setup, which runs npm ci there)');
  process.exit(1);
}
const require = createRequire(validatorPkg);
const { default: OpenAI } = require('openai');
const Ajv2020 = require('ajv/dist/2020.js');

const KEY = 'test-key-0123456789';
const MODEL = 'stories260K';
let server, base, client, tmp = null;

// Starts a server on `modelPath` and waits for its "listening on" line, then
// for /health 200 (503 before). Its stderr collects in srv.log.
async function startServer(modelPath, parallel = 8, queue = 64) {
  const srv = { log: '' };
  srv.proc = spawn(exe, ['serve', '-m', modelPath, '--port', '0', '--api-key', KEY, '--parallel', String(parallel),
    '--queue', String(queue), '--max-body', '65536', '--grace', '20'], { stdio: ['ignore', 'ignore', 'pipe'] });
  srv.proc.stderr.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line in 20 s:\n${srv.log}`)), 20000);
    srv.proc.stderr.on('data', (d) => {
      srv.log += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(srv.log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    srv.proc.on('exit', (code) => reject(new Error(`server exited (${code}):\n${srv.log}`)));
  });
  srv.base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${srv.base}/health`).catch(() => null);
    if (r && r.status === 200) return srv;
    if (r) assert.equal(r.status, 503, 'health answers 503 while loading');
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`not ready in 10 s:\n${srv.log}`);
}

const servers = [];
before(async () => {
  const srv = await startServer(model);
  servers.push(srv);
  ({ proc: server, base } = srv);
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60000 });
});

after(() => {
  for (const srv of servers) if (srv.proc.exitCode === null) srv.proc.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const messages = [{ role: 'system', content: 'You tell short stories.' }, { role: 'user', content: 'Tell me about a cat.' }];

async function post(path, body, headers = {}) {
  const r = await fetch(`${base}${path}`, {
    method: 'POST', body, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...headers },
  });
  return { status: r.status, json: await r.json() };
}

function assertErrorShape(json) {
  assert.equal(typeof json.error.message, 'string');
  assert.ok(json.error.message.length > 0);
  assert.equal(typeof json.error.type, 'string');
  assert.ok('param' in json.error && 'code' in json.error);
}

// A server on a random-weight model with stories260K's tokenizer and a
// 4096-token context (room for a tool list), slow enough that a generation
// is still running when a client leaves; 2 in parallel and 1 waiting. Made
// once, on first use.
let slow = null;
async function slowServer() {
  if (slow) return slow;
  tmp ??= mkdtempSync(join(tmpdir(), 'vkagent-serve-'));
  const path = join(tmp, 'slow.gguf');
  const synth = spawnSync(exe, ['synth', '-o', path, '--preset', 'stories260K', '--dim', '512', '--layers', '8',
    '--heads', '8', '--kv-heads', '8', '--ffn', '1376', '--ctx', '4096', '--vocab-from', model], { encoding: 'utf8' });
  assert.equal(synth.status, 0, synth.stderr);
  slow = await startServer(path, 2, 1); // small, for the queue-full test
  servers.push(slow);
  return slow;
}

// A server on a random-weight model of stories260K's size, with its tokenizer
// and a 4096-token context (room for a tool list): as fast as stories260K.
let fast = null;
async function fastServer() {
  if (fast) return fast;
  tmp ??= mkdtempSync(join(tmpdir(), 'vkagent-serve-'));
  const path = join(tmp, 'fast.gguf');
  const synth = spawnSync(exe, ['synth', '-o', path, '--preset', 'stories260K', '--ctx', '4096', '--vocab-from', model],
    { encoding: 'utf8' });
  assert.equal(synth.status, 0, synth.stderr);
  fast = await startServer(path);
  servers.push(fast);
  fast.client = new OpenAI({ baseURL: `${fast.base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60000 });
  return fast;
}

async function metric(srvBase, name) {
  const text = await (await fetch(`${srvBase}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `no ${name} in /metrics`);
  return Number(m[1]);
}

test('health and models', async () => {
  const h = await fetch(`${base}/health`);
  assert.equal(h.status, 200);
  assert.equal((await h.json()).status, 'ok');
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [MODEL]);
});

test('chat, plain and streamed, give the same text and usage', async () => {
  const params = { model: MODEL, messages, max_tokens: 24, seed: 7, temperature: 0.8 };
  const plain = await client.chat.completions.create(params);
  const text = plain.choices[0].message.content;
  assert.equal(plain.object, 'chat.completion');
  assert.equal(plain.choices[0].message.role, 'assistant');
  assert.ok(text.length > 0);
  assert.equal(plain.choices[0].finish_reason, 'length');
  assert.equal(plain.usage.completion_tokens, 24);
  assert.equal(plain.usage.total_tokens, plain.usage.prompt_tokens + 24);

  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let streamed = '', finish = null, usage = null, role = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) streamed += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(streamed, text);
  assert.equal(finish, 'length');
  assert.deepEqual(usage, plain.usage);
});

test('completions: text, greedy repeatable, stop strings', async () => {
  const params = { model: MODEL, prompt: 'Once upon a time', max_tokens: 30, temperature: 0 };
  const a = await client.completions.create(params);
  const b = await client.completions.create(params);
  assert.equal(a.object, 'text_completion');
  assert.equal(a.choices[0].text, b.choices[0].text);
  assert.equal(a.usage.completion_tokens, 30);
  const text = a.choices[0].text;
  const words = text.trim().split(/\s+/);
  assert.ok(words.length >= 4, text);
  const stop = ` ${words[3]}`;
  const cut = await client.completions.create({ ...params, stop: [stop] });
  assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
  // the default is 16 tokens, as OpenAI's
  const short = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', seed: 1 });
  assert.equal(short.usage.completion_tokens, 16);
});

test('json_schema answers validate', async () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
    required: ['name', 'age'],
    additionalProperties: false,
  };
  const validate = new Ajv2020({ strict: false }).compile(schema);
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      model: MODEL, messages, seed, max_tokens: 200,
      response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } },
    });
    assert.equal(r.choices[0].finish_reason, 'stop');
    const doc = JSON.parse(r.choices[0].message.content);
    assert.ok(validate(doc), `${r.choices[0].message.content}: ${JSON.stringify(validate.errors)}`);
  }
  const obj = await client.chat.completions.create({
    model: MODEL, messages, seed: 4, max_tokens: 200, response_format: { type: 'json_object' },
  });
  const doc = JSON.parse(obj.choices[0].message.content);
  assert.equal(typeof doc, 'object');
  assert.ok(doc !== null && !Array.isArray(doc));
});

test('error statuses', async () => {
  const badJson = await post('/v1/chat/completions', '{"messages": [');
  assert.equal(badJson.status, 400);
  assertErrorShape(badJson.json);

  await assert.rejects(client.chat.completions.create({ model: MODEL, messages, temperature: 5 }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.param, 'temperature');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [] }), (e) => e.status === 400 && e.param === 'messages');
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x', stop: 3 }), (e) => e.status === 400 && e.param === 'stop');
  await assert.rejects(client.chat.completions.create({
    model: MODEL, messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nonsense' } } },
  }), (e) => e.status === 400 && e.param === 'response_format.json_schema.schema');

  const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => e.status === 401);
  const noKey = await fetch(`${base}/v1/models`);
  assert.equal(noKey.status, 401);
  assertErrorShape(await noKey.json());

  const missing = await post('/v1/nothing', '{}');
  assert.equal(missing.status, 404);
  assertErrorShape(missing.json);
  const get = await fetch(`${base}/v1/chat/completions`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(get.status, 405);

  const big = await post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(70000) }));
  assert.equal(big.status, 413);
  assertErrorShape(big.json);
});

test('metrics in Prometheus text', async () => {
  assert.equal((await fetch(`${base}/metrics`)).status, 401);
  const r = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain/);
  const values = new Map();
  for (const line of (await r.text()).split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[a-z_]+="[^"]*"\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    assert.ok(!Number.isNaN(Number(m[2])), line);
    values.set(m[1], Number(m[2]));
  }
  // what the tests before this one did
  const status = (code) => values.get(`vkagent_requests_total{status="${code}"}`);
  assert.ok(status(200) >= 10, `${status(200)} answers 200`);
  for (const code of [400, 401, 404, 405, 413]) assert.ok(status(code) >= 1, `no ${code} counted`);
  assert.ok(values.get('vkagent_generated_tokens_total') > 0);
  assert.ok(values.get('vkagent_prompt_tokens_total') > 0);
  assert.ok(values.get('vkagent_kv_blocks') > 0);
  for (const h of ['vkagent_time_to_first_token_seconds', 'vkagent_inter_token_latency_seconds']) {
    const buckets = [...values].filter(([k]) => k.startsWith(`${h}_bucket`)).map(([, v]) => v);
    assert.ok(buckets.length > 2);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], `${h} buckets decrease`);
    assert.equal(buckets.at(-1), values.get(`${h}_count`));
    assert.ok(values.get(`${h}_count`) > 0);
    assert.ok(values.get(`${h}_sum`) > 0);
  }
});

const weather = {
  type: 'object',
  properties: { city: { enum: ['Paris', 'Rome', 'Oslo'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
  required: ['city', 'days'],
  additionalProperties: false,
};
const empty = { type: 'object', properties: {}, additionalProperties: false };
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'The weather', parameters: weather, strict: true } },
  { type: 'function', function: { name: 'now', description: 'The time', parameters: empty, strict: true } },
];
const toolAjv = new Ajv2020({ strict: false });
const validators = { get_weather: toolAjv.compile(weather), now: toolAjv.compile(empty) };
const toolMsgs = [{ role: 'user', content: 'What is the weather in Paris?' }];
// Raises '<' (504) and 't' (413) of stories260K's vocabulary, so that the
// random model starts calls sooner: text, then one or several calls.
const callBias = { 504: 3, 413: 5 };

function checkCall(call, idPattern = /^call_/) {
  assert.equal(call.type, 'function');
  assert.match(call.id, idPattern);
  const args = JSON.parse(call.function.arguments);
  const validate = validators[call.function.name];
  assert.ok(validate, call.function.name);
  assert.ok(validate(args), `${call.function.arguments}: ${JSON.stringify(validate.errors)}`);
  return call.function;
}

// Every call of a finished choice validates, under distinct ids.
function checkCalls(choice, idPattern = /^call_/) {
  const calls = choice.message.tool_calls ?? [];
  if (choice.finish_reason === 'tool_calls') {
    assert.ok(calls.length > 0);
    for (const call of calls) checkCall(call, idPattern);
  }
  assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, 'call ids are distinct');
  return calls;
}

test('tools: calls generated under their schemas, as tool_calls', async () => {
  const { client: c } = await fastServer();
  for (const seed of [1, 2]) {
    const r = await c.chat.completions.create({ model: 'fast', messages: toolMsgs, tools, tool_choice: 'required', seed, max_tokens: 1000 });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(r.choices[0].message.content, null);
    assert.ok(checkCalls(r.choices[0]).length >= 1);
  }
  const named = { model: 'fast', messages: toolMsgs, tools, seed: 3, max_tokens: 1000,
    tool_choice: { type: 'function', function: { name: 'get_weather' } } };
  const r = await c.chat.completions.create(named);
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  for (const call of checkCalls(r.choices[0])) assert.equal(call.function.name, 'get_weather');
  // auto: text, calls, or text then calls; none: text
  const auto = await c.chat.completions.create({ model: 'fast', messages: toolMsgs, tools, seed: 4, max_tokens: 30 });
  checkCalls(auto.choices[0]);
  const none = await c.chat.completions.create({ model: 'fast', messages: toolMsgs, tools, tool_choice: 'none', seed: 4, max_tokens: 5 });
  assert.equal(none.choices[0].message.tool_calls, undefined);
  // a conversation with the calls and their results goes on
  const calls = r.choices[0].message.tool_calls;
  const after = await c.chat.completions.create({ model: 'fast', tools, max_tokens: 5, seed: 5, messages: [
    ...toolMsgs, { role: 'assistant', content: null, tool_calls: calls },
    ...calls.map((call) => ({ role: 'tool', tool_call_id: call.id, content: '{"sky": "clear"}' }))] });
  assert.equal(typeof after.choices[0].message.content, 'string');
  await assert.rejects(c.chat.completions.create({ ...named, tool_choice: { type: 'function', function: { name: 'nope' } } }),
    (e) => e.status === 400 && e.param === 'tool_choice');
  await assert.rejects(c.chat.completions.create({ model: 'fast', messages: toolMsgs, tool_choice: 'required' }),
    (e) => e.status === 400 && e.param === 'tool_choice');
  await assert.rejects(c.chat.completions.create({ model: 'fast', messages: toolMsgs, tools, parallel_tool_calls: 'yes' }),
    (e) => e.status === 400 && e.param === 'parallel_tool_calls');
});

test('tools: several calls per answer, text before calls, parallel_tool_calls false', async () => {
  const { client: c } = await fastServer();
  const params = { model: 'fast', messages: toolMsgs, tools, max_tokens: 600, logit_bias: callBias };
  let several = 0, textThenCalls = 0;
  // both forms come within a few seeds (on the CPU: seeds 1 and 2)
  for (let seed = 1; seed <= 16 && !(several && textThenCalls); seed++) {
    const ch = (await c.chat.completions.create({ ...params, seed })).choices[0];
    const calls = checkCalls(ch);
    if (ch.finish_reason !== 'tool_calls') continue;
    if (calls.length >= 2) several++;
    if (ch.message.content) {
      textThenCalls++;
      assert.ok(!ch.message.content.includes('<tool_call>'), ch.message.content);
    }
  }
  assert.ok(several > 0, 'no answer with several calls');
  assert.ok(textThenCalls > 0, 'no answer with text before its calls');
  for (let seed = 1; seed <= 6; seed++) {
    const ch = (await c.chat.completions.create({ ...params, seed, parallel_tool_calls: false })).choices[0];
    const calls = checkCalls(ch);
    assert.ok(calls.length <= 1, `${calls.length} calls without parallel_tool_calls`);
  }
});

// name and arguments of each call (ids differ between requests)
const callsOf = (choice) => (choice.message.tool_calls ?? []).map((t) => ({ name: t.function.name, arguments: t.function.arguments }));

test('tools: streamed calls, argument by argument, reassemble to the same answer', async () => {
  const { client: c } = await fastServer();
  let firsts = 0, fragments = 0, withCalls = 0;
  for (const seed of [1, 2, 3]) {
    const params = { model: 'fast', messages: toolMsgs, tools, max_tokens: 600, logit_bias: callBias, seed, n: 2 };
    const whole = await c.chat.completions.create(params);
    const stream = c.chat.completions.stream(params);
    stream.on('chunk', (chunk) => {
      for (const ch of chunk.choices) {
        for (const tc of ch.delta.tool_calls ?? []) {
          if (tc.id) { // the first chunk of a call: its id and name, no arguments yet
            firsts++;
            assert.equal(tc.type, 'function');
            assert.ok(tc.function.name);
            assert.equal(tc.function.arguments, '');
          } else {
            fragments++;
          }
        }
      }
    });
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices.length, 2);
    for (const i of [0, 1]) {
      const [a, b] = [final.choices[i], whole.choices[i]];
      assert.equal(a.index, i);
      assert.equal(a.finish_reason, b.finish_reason);
      assert.equal(a.message.content, b.message.content);
      assert.deepEqual(callsOf(a), callsOf(b));
      checkCalls(a);
      withCalls += callsOf(b).length > 0;
    }
  }
  assert.ok(withCalls > 0);
  assert.ok(fragments > 2 * firsts, `${fragments} argument fragments for ${firsts} calls`);
  // the last test on this server: it exits 0 (under the sanitizers: nothing leaked)
  const srv = await fastServer();
  const exited = new Promise((res) => srv.proc.on('exit', (code) => res(code)));
  srv.proc.kill('SIGTERM');
  assert.equal(await exited, 0, srv.log);
  fast = null;
});

// `path` (a GGUF without a chat template) given tokenizer.chat_template =
// `template`: the key goes first, and a Jinja comment pads it to a multiple
// of 256 bytes, so that the tensor data after it stays aligned.
function addTemplate(path, template) {
  const file = readFileSync(path);
  const key = Buffer.from('tokenizer.chat_template');
  const entry = (t) => 8 + key.length + 4 + 8 + Buffer.byteLength(t);
  const pad = (256 - ((entry(template) + 4) % 256)) % 256;
  const text = Buffer.from(`${template}{#${' '.repeat(pad)}#}`);
  const kv = Buffer.alloc(entry(text.toString()));
  let at = kv.writeBigUInt64LE(BigInt(key.length), 0);
  at += key.copy(kv, at);
  at = kv.writeUInt32LE(8, at); // a string
  at = kv.writeBigUInt64LE(BigInt(text.length), at);
  text.copy(kv, at);
  assert.equal(kv.length % 256, 0);
  const header = Buffer.from(file.subarray(0, 24));
  header.writeBigUInt64LE(header.readBigUInt64LE(16) + 1n, 16); // the number of keys
  writeFileSync(path, Buffer.concat([header, kv, file.subarray(24)]));
}

// A server of stories260K's weights and vocabulary given the chat template
// tests/data/templates/`file` (its call format then decides the grammar).
async function templateServer(name, file) {
  tmp ??= mkdtempSync(join(tmpdir(), 'vkagent-serve-'));
  const path = join(tmp, `${name}.gguf`);
  const synth = spawnSync(exe, ['synth', '-o', path, '--preset', 'stories260K', '--ctx', '4096', '--vocab-from', model],
    { encoding: 'utf8' });
  assert.equal(synth.status, 0, synth.stderr);
  const template = readFileSync(new URL(`../data/templates/${file}`, import.meta.url), 'utf8');
  addTemplate(path, template);
  const srv = await startServer(path, 2);
  servers.push(srv);
  const props = await (await fetch(`${srv.base}/props`, { headers: { authorization: `Bearer ${KEY}` } })).json();
  assert.ok(props.chat_template.startsWith(template), 'the GGUF carries the template');
  return new OpenAI({ baseURL: `${srv.base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60000 });
}

// A request streamed and not: the stream, reassembled as a client does (a
// call's first delta has its id, type, name and, when `incremental`, empty
// arguments; the others pieces of the arguments), gives the whole answer
// (ids differ between requests: compared by their form). Counts the deltas.
async function streamedLikeWhole(c, params, incremental = true) {
  const whole = (await c.chat.completions.create(params)).choices[0];
  const calls = [];
  let finish = null, content = '', firsts = 0, pieces = 0;
  for await (const chunk of await c.chat.completions.create({ ...params, stream: true })) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    content += ch.delta?.content ?? '';
    for (const tc of ch.delta?.tool_calls ?? []) {
      if (tc.id) {
        firsts++;
        if (incremental) assert.equal(tc.function.arguments, '');
        calls[tc.index] = { id: tc.id, type: tc.type, function: { name: tc.function.name, arguments: tc.function.arguments } };
      } else {
        pieces++;
        calls[tc.index].function.arguments += tc.function.arguments;
      }
    }
    finish = ch.finish_reason ?? finish;
  }
  assert.equal(finish, whole.finish_reason);
  assert.equal(content, whole.message.content ?? '');
  const wholeCalls = whole.message.tool_calls ?? [];
  assert.deepEqual(calls.map((t) => t.function), wholeCalls.map((t) => t.function));
  const form = (id) => (/^call_\d+_\d+_\d+$/.test(id) ? 'call_N_N_N' : /^[a-zA-Z0-9]{9}$/.test(id) ? 'nine' : id);
  assert.deepEqual(calls.map((t) => [t.type, form(t.id)]), wholeCalls.map((t) => [t.type, form(t.id)]));
  return { whole, firsts, pieces };
}

test('tools: a model whose template writes Llama 3.1 calls gets them in that format', async () => {
  const c = await templateServer('llama31', 'meta-llama-Llama-3.1-8B-Instruct.jinja');
  const params = { model: 'llama31', messages: toolMsgs, tools, tool_choice: 'required', max_tokens: 1000 };
  // one call per message, as the template renders them, parallel or not
  for (const seed of [1, 2]) {
    const r = await c.chat.completions.create({ ...params, seed });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.equal(r.choices[0].message.content, null);
    assert.equal(checkCalls(r.choices[0]).length, 1);
  }
  const named = await c.chat.completions.create({ ...params, seed: 3, tool_choice: { type: 'function', function: { name: 'now' } } });
  assert.deepEqual(checkCalls(named.choices[0]).map((call) => call.function.name), ['now']);
  // auto: one call, or text that does not begin with '{'
  for (const seed of [4, 5, 6]) {
    const auto = await c.chat.completions.create({ ...params, tool_choice: 'auto', seed, max_tokens: 20 });
    const calls = checkCalls(auto.choices[0]);
    if (calls.length === 0) assert.ok(!auto.choices[0].message.content.startsWith('{'), auto.choices[0].message.content);
    await streamedLikeWhole(c, { ...params, tool_choice: 'auto', seed, max_tokens: 20 });
  }
  // streamed: the call's first delta as its arguments begin, then the
  // arguments as they are written (how many pieces depends on timing); the
  // same as unstreamed
  const { whole, firsts, pieces } = await streamedLikeWhole(c, { ...params, seed: 1 });
  assert.equal(whole.finish_reason, 'tool_calls');
  assert.equal(firsts, 1);
  assert.ok(pieces >= 1, `${pieces} argument pieces`);
  // a conversation with the call and its result goes on through the template
  const calls = whole.message.tool_calls;
  const next = await c.chat.completions.create({ model: 'llama31', tools, max_tokens: 5, seed: 5, messages: [
    ...toolMsgs, { role: 'assistant', content: null, tool_calls: calls },
    { role: 'tool', tool_call_id: calls[0].id, content: '{"sky": "clear"}' }] });
  assert.equal(typeof next.choices[0].message.content, 'string');
});

test('tools: Mistral\'s templates: [TOOL_CALLS] calls with nine-character ids, streamed as they are written', async () => {
  for (const [name, file] of [['mistral03', 'mistralai-Mistral-7B-Instruct-v0.3.jinja'],
    ['mistralsmall32', 'Mistral-Small-3.2-24B-Instruct-2506.jinja']]) {
    const c = await templateServer(name, file);
    const params = { model: name, messages: toolMsgs, tools, tool_choice: 'required', max_tokens: 1000 };
    const nine = /^[a-zA-Z0-9]{9}$/;
    let firsts = 0, pieces = 0;
    for (const seed of name === 'mistral03' ? [1, 2] : [1]) {
      const one = await streamedLikeWhole(c, { ...params, seed, parallel_tool_calls: false });
      assert.equal(one.whole.finish_reason, 'tool_calls');
      assert.equal(one.whole.message.content, null);
      assert.equal(checkCalls(one.whole, nine).length, 1);
      // several calls, and text before them: whatever comes, the stream agrees
      const several = await streamedLikeWhole(c, { ...params, seed, tool_choice: 'auto', max_tokens: 60 });
      checkCalls(several.whole, nine);
      firsts += one.firsts + several.firsts;
      pieces += one.pieces + several.pieces;
      // the template checks the ids it renders back: the conversation goes on
      const calls = one.whole.message.tool_calls;
      const next = await c.chat.completions.create({ model: name, tools, max_tokens: 5, seed: 5, messages: [
        ...toolMsgs, { role: 'assistant', content: null, tool_calls: calls },
        ...calls.map((call) => ({ role: 'tool', tool_call_id: call.id, content: '{"sky": "clear"}' }))] });
      assert.equal(typeof next.choices[0].message.content, 'string');
    }
    assert.ok(firsts > 0 && pieces >= firsts, `${name}: ${pieces} argument pieces for ${firsts} calls`);
  }
});

test('tools: Qwen3-Coder\'s and GLM\'s templates: a parameter per element, under the schemas', async () => {
  for (const [name, file] of [['qwen3coder', 'Qwen3-Coder.jinja'], ['glm46', 'GLM-4.6.jinja']]) {
    const c = await templateServer(name, file);
    const params = { model: name, messages: toolMsgs, tools, tool_choice: 'required', max_tokens: 1000, parallel_tool_calls: false };
    let allFirsts = 0, allPieces = 0;
    for (const seed of name === 'qwen3coder' ? [1, 2] : [1]) {
      // the arguments' JSON, built from the elements, streamed as they come: the same as unstreamed
      const { whole, firsts, pieces } = await streamedLikeWhole(c, { ...params, seed });
      assert.equal(whole.finish_reason, 'tool_calls', `${name}: ${JSON.stringify(whole)}`);
      assert.equal(checkCalls(whole).length, 1);
      assert.equal(firsts, 1);
      assert.ok(pieces >= 1, `${name}: ${pieces} argument pieces`);
      const weather = await streamedLikeWhole(c, { ...params, seed, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
      allFirsts += weather.firsts;
      allPieces += weather.pieces;
      // several calls, and text before them: whatever comes, the stream agrees
      const several = await streamedLikeWhole(c, { ...params, seed, tool_choice: 'auto', parallel_tool_calls: true, max_tokens: 80 });
      checkCalls(several.whole);
    }
    // get_weather's elements come over many tokens: their JSON in more than one piece
    assert.ok(allPieces > allFirsts, `${name}: ${allPieces} argument pieces for ${allFirsts} calls`);
    const named = await c.chat.completions.create({ ...params, seed: 3, tool_choice: { type: 'function', function: { name: 'get_weather' } } });
    const [call] = checkCalls(named.choices[0]);
    assert.deepEqual(Object.keys(JSON.parse(call.function.arguments)), ['city', 'days']);
  }
});

test('n choices: each what its seed gives alone, streamed or not', async () => {
  const params = { model: MODEL, messages: [{ role: 'user', content: 'A story about a frog on a log.' }], max_tokens: 20,
    temperature: 0.9, seed: 21 };
  const prefixBefore = await metric(base, 'vkagent_prefix_cache_tokens_total');
  const r = await client.chat.completions.create({ ...params, n: 3 });
  // the prompt was new: choices 1 and 2 found its full blocks (32 tokens) in the KV pool
  assert.ok(await metric(base, 'vkagent_prefix_cache_tokens_total') - prefixBefore >= 64, 'the prompt was computed more than once');
  assert.deepEqual(r.choices.map((ch) => ch.index), [0, 1, 2]);
  let generated = 0;
  for (const i of [0, 1, 2]) {
    const alone = await client.chat.completions.create({ ...params, seed: 21 + i });
    assert.equal(r.choices[i].message.content, alone.choices[0].message.content);
    assert.equal(r.choices[i].finish_reason, alone.choices[0].finish_reason);
    assert.equal(r.usage.prompt_tokens, alone.usage.prompt_tokens);
    generated += alone.usage.completion_tokens;
  }
  assert.equal(r.usage.completion_tokens, generated);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + generated);
  const texts = ['', '', ''], finish = [], roles = [];
  let usage = null;
  for await (const chunk of await client.chat.completions.create({ ...params, n: 3, stream: true, stream_options: { include_usage: true } })) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      texts[ch.index] += ch.delta.content ?? '';
      if (ch.delta.role) roles[ch.index] = ch.delta.role;
      if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
    }
  }
  assert.deepEqual(texts, r.choices.map((ch) => ch.message.content));
  assert.deepEqual(finish, r.choices.map((ch) => ch.finish_reason));
  assert.deepEqual(roles, ['assistant', 'assistant', 'assistant']);
  assert.deepEqual(usage, r.usage);
  // completions too
  const cp = { model: MODEL, prompt: 'Once upon a time', max_tokens: 12, seed: 5 };
  const two = await client.completions.create({ ...cp, n: 2 });
  for (const i of [0, 1])
    assert.equal(two.choices[i].text, (await client.completions.create({ ...cp, seed: 5 + i })).choices[0].text);
  // at most --parallel (8 here)
  await assert.rejects(client.chat.completions.create({ ...params, n: 9 }), (e) => e.status === 400 && e.param === 'n');
});

test('sixteen concurrent clients get what they get alone', async () => {
  const subjects = ['A dog.', 'A bird in the tree.', 'The sea.', 'Lily and Tom play.', 'A big red ball.', 'The sun.',
    'Mom and the cake.', 'A little fish.', 'The park.', 'A toy car.', 'Rain.', 'A cat and a dog.', 'The moon.',
    'Ben was sad.', 'A tree.', 'The shop.'];
  const jobs = subjects.map((content, i) => ({
    model: MODEL, max_tokens: 40, seed: 100 + i, temperature: 0.9, messages: [{ role: 'user', content }],
  }));
  const alone = [];
  for (const j of jobs) alone.push((await client.chat.completions.create(j)).choices[0].message.content);
  // eight at once on the server (--parallel 8), the others queued; half of them streamed
  const together = await Promise.all(jobs.map(async (j, i) => {
    if (i % 2 === 0) return (await client.chat.completions.create(j)).choices[0].message.content;
    let text = '';
    for await (const c of await client.chat.completions.create({ ...j, stream: true })) text += c.choices[0]?.delta?.content ?? '';
    return text;
  }));
  assert.deepEqual(together, alone);
});

test('a full queue answers 503', async () => {
  const srv = await slowServer();
  const c = new OpenAI({ baseURL: `${srv.base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60000 });
  const long = { model: 'slow', prompt: 'Once upon a time', max_tokens: 3000, logit_bias: { 2: -100 }, stream: true };
  const controllers = [0, 1, 2].map(() => new AbortController());
  const streams = await Promise.all(controllers.map((ctl, i) => c.completions.create({ ...long, seed: i }, { signal: ctl.signal })));
  let health;
  for (let i = 0; i < 200; i++) {
    health = await (await fetch(`${srv.base}/health`)).json();
    if (health.requests_running === 2 && health.requests_queued === 1) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.deepEqual([health.requests_running, health.requests_queued], [2, 1]);
  await assert.rejects(c.completions.create({ model: 'slow', prompt: 'x', max_tokens: 2 }), (e) => {
    assert.equal(e.status, 503);
    assert.equal(typeof e.error.message, 'string');
    return true;
  });
  for (const ctl of controllers) ctl.abort();
  await Promise.all(streams.map(async (st) => { try { for await (const x of st); } catch { /* aborted */ } })); // eslint-disable-line no-unused-vars
  for (let i = 0; i < 200; i++) {
    health = await (await fetch(`${srv.base}/health`)).json();
    if (health.requests_running === 0 && health.requests_queued === 0) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.deepEqual([health.requests_running, health.requests_queued], [0, 0]);
});

test('a stream aborted mid-way is cancelled and its session freed', async () => {
  const srv = await slowServer();
  const slowClient = new OpenAI({ baseURL: `${srv.base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 60000 });
  const lines = () => [...srv.log.matchAll(/request \d+: (\w+), \d+ prompt \+ (\d+) generated tokens/g)];
  const before = lines().length;
  const controller = new AbortController();
  const stream = await slowClient.completions.create({
    model: 'slow', prompt: 'Once upon a time', max_tokens: 100000, seed: 5, stream: true, logit_bias: { 2: -100 },
  }, { signal: controller.signal });
  let chunks = 0;
  try {
    for await (const chunk of stream) { // eslint-disable-line no-unused-vars
      if (++chunks === 2) controller.abort();
    }
  } catch (e) {
    assert.equal(e.name, 'APIUserAbortError'); // the client may end the loop quietly instead
  }
  assert.ok(chunks >= 2 && chunks < 100, `${chunks} chunks`); // a few already received may still come
  let health;
  for (let i = 0; i < 100; i++) {
    health = await (await fetch(`${srv.base}/health`)).json();
    if (health.requests_running === 0 && health.requests_queued === 0 && lines().length > before) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(health.requests_running, 0);
  // its log line (the tools test ran on this server before)
  assert.equal(lines().length, before + 1, srv.log);
  const m = lines().at(-1);
  assert.equal(m[1], 'cancelled');
  assert.ok(Number(m[2]) < 4000, `${m[2]} tokens generated`);
  const exited = new Promise((res) => srv.proc.on('exit', (code) => res(code)));
  srv.proc.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('SIGTERM finishes the request in flight, then exits 0', async () => {
  const stream = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 200, seed: 9, stream: true, logit_bias: { 2: -100 } });
  const exited = new Promise((res) => server.on('exit', (code, signal) => res({ code, signal })));
  let text = '', finish = null, first = true;
  for await (const chunk of stream) {
    if (first) { server.kill('SIGTERM'); first = false; }
    text += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.equal(finish, 'length');
  assert.ok(text.length > 0);
  assert.deepEqual(await exited, { code: 0, signal: null });
});
