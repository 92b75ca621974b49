// structured_property.mjs — the property test of structured output (issue 10):
// random schemas over the supported keywords; for each, documents from
// json-schema-faker and mutations of them, classified by ajv (draft 2020-12,
// ajv-formats) and by `vkagent grammar --check`, which must agree on every
// one (departures.mjs lists the exceptions, each named); random walks
// (`--sample`) that ajv must find valid; the audit cases of the issue.
//
// usage: node tests/property/structured_property.mjs [--vkagent PATH] [--seed N|random]
//          [--schemas N] [--docs N] [--mutants N] [--walks N] [--walk-every K] [--flexible-every K]
//          [--show N] [--verbose] [--keep DIR]
// Environment: VKAGENT_PROPERTY_SEED (a number or 'random'), VKAGENT_PROPERTY_SCHEMAS,
// VKAGENT_BUILD_DIR (for cli/vkagent), VKAGENT_TEST_DATA (for the walks' vocabulary).
// Exit 0 when everything agrees and no keyword is refused too often, else 1.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { AUDIT } from './audit.mjs';
import { Layout } from './canonical.mjs';
import { declaredNames, hasNonFinite, repeatedNames } from './departures.mjs';
import { generateSchema } from './gen_schema.mjs';
import { buildDocs, describeFailure, judgeSchema } from './judge.mjs';
import { escapeRespelling, mutants, repeatedKey, respace } from './mutate.mjs';
import { depsMissing, loadFaker, makeAjv, Oracle } from './oracle.mjs';
import { makeRng } from './rng.mjs';
import { findVkagent, refusalKeyword, sample } from './vkagent.mjs';

const sourceDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// Keywords the converter is to support: refusing more than REFUSAL_LIMIT of
// the schemas that use one (when at least REFUSAL_MIN_USES do) fails the test,
// so that a converter that refuses everything cannot pass. Contradictory
// schemas (made on purpose) are not counted: refusing them is right.
const SUPPORTED = ['type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', 'not', '$ref', 'properties', 'required',
  'additionalProperties', 'patternProperties', 'propertyNames', 'minProperties', 'maxProperties', 'dependentRequired',
  'dependencies', 'items', 'prefixItems', 'additionalItems', 'minItems', 'maxItems', 'contains', 'minContains',
  'maxContains', 'uniqueItems', 'minLength', 'maxLength', 'pattern', 'format', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', '$defs', 'definitions'];
// Annotations and extensions must be ignored: refusing them counts too.
const IGNORED = ['title', 'description', '$comment', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly',
  'example', 'links', 'x-order', 'x-kubernetes-group-version-kind'];
// Keywords enforced only in the cases docs/structured-output.md lists, and
// refused (naming the keyword) otherwise: reported, not held to the limit.
const PARTIAL = {};
const REFUSAL_LIMIT = 0.05;
const REFUSAL_MIN_USES = 10;

function parseArgs(argv) {
  const o = {
    seed: process.env.VKAGENT_PROPERTY_SEED ?? '1',
    schemas: Number(process.env.VKAGENT_PROPERTY_SCHEMAS ?? 150),
    docs: 4, mutants: 3, walks: 3, walkEvery: 1, flexibleEvery: 4, show: 40, verbose: false, keep: null, vkagent: null,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === '--seed') o.seed = next();
    else if (a === '--schemas') o.schemas = Number(next());
    else if (a === '--docs') o.docs = Number(next());
    else if (a === '--mutants') o.mutants = Number(next());
    else if (a === '--walks') o.walks = Number(next());
    else if (a === '--walk-every') o.walkEvery = Number(next());
    else if (a === '--flexible-every') o.flexibleEvery = Number(next());
    else if (a === '--vkagent') o.vkagent = next();
    else if (a === '--keep') o.keep = next();
    else if (a === '--show') o.show = Number(next());
    else if (a === '--verbose') o.verbose = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.seed === 'random') o.seed = String(Math.floor(Math.random() * 2 ** 31));
  return o;
}

class Stats {
  constructor() {
    Object.assign(this, { schemas: 0, converted: 0, refused: 0, crashed: 0, documents: 0, valid: 0, agreements: 0,
      unknownOrder: 0, fakerFailures: 0, walks: 0, walkCapped: 0, convertSeconds: [] });
    this.uses = new Map();
    this.refusals = new Map(); // keyword named -> count
    this.refusalMessages = new Map();
    this.departures = new Map();
    this.failures = [];
  }

  count(map, key, n = 1) {
    map.set(key, (map.get(key) ?? 0) + n);
  }
}

// Faker's documents for a schema (seeded), then mutants of each, then text variants.
function documentsFor(faker, oracle, rng, o, stats) {
  const items = [];
  const layout = new Layout(oracle);
  for (let k = 0; k < o.docs; k++) {
    let value;
    try {
      value = faker.generateSync(oracle.schema, { seed: rng.int(1, 2 ** 30), maxDepth: 4, maxDefaultItems: 3 });
    } catch {
      stats.fakerFailures++;
      continue;
    }
    if (value === undefined) continue;
    items.push({ kind: 'faker', value });
    for (const m of mutants(layout, value, rng, o.mutants)) items.push({ kind: `mutant: ${m.kind}`, value: m.value });
  }
  return items;
}

// Text variants of the first valid document: another spelling, a repeated key.
function textVariants(docs, schema, rng) {
  const valid = docs.find((d) => d.ajv && d.texts.length === 1);
  if (!valid) return [];
  const out = [];
  const esc = escapeRespelling(valid.texts[0], rng);
  if (esc) out.push({ kind: 'text: a character spelled as an escape', text: esc });
  const rep = repeatedKey(valid.texts[0], [...declaredNames(schema)]);
  if (rep) out.push({ kind: 'text: a declared key repeated', text: rep });
  return out;
}

// Random walks must be valid documents: JSON, finite numbers, no repeated declared key, ajv-valid.
function checkWalks(vkagent, file, oracle, seed, o, stats, vocab, flags = []) {
  const r = sample(vkagent, file, o.walks, seed, vocab, flags);
  if (r.crashed) {
    stats.failures.push({ what: 'walk failed', schema: oracle.original, doc: { kind: 'walk', texts: [''], ajv: true, expected: true }, detail: r.crashed });
    return;
  }
  stats.walks += r.docs.length;
  stats.walkCapped += r.capped;
  const declared = declaredNames(oracle.schema);
  for (const text of r.docs) {
    let why = null;
    let value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      why = `not JSON: ${e.message}`;
    }
    if (!why && hasNonFinite(value)) why = 'a number that does not fit a double';
    if (!why && repeatedNames(text).some((k) => declared.has(k))) why = 'a declared key repeated';
    if (!why && !oracle.valid(value)) why = `ajv: ${oracle.ajv.errorsText(oracle.whole.errors)}`;
    if (why) stats.failures.push({ what: 'UNSOUND: walk produced an invalid document', schema: oracle.original,
      doc: { kind: `walk (seed ${seed}${flags.length ? `, ${flags.join(' ')}` : ''})`, texts: [text], ajv: false, expected: true }, text, detail: why });
  }
}

function addResults(stats, docs, r) {
  stats.documents += docs.length;
  stats.valid += docs.filter((d) => d.expected).length;
  stats.agreements += r.results.length - r.failures.length - [...r.departures.values()].reduce((a, b) => a + b, 0);
  for (const [k, n] of r.departures) stats.count(stats.departures, k, n);
  stats.failures.push(...r.failures);
}

// The same documents with JSON whitespace between tokens, under --json-schema-flexible-ws,
// and walks under it.
function flexiblePhase(ctx, file, schema, oracle, docs) {
  const { o, stats, vkagent, rng } = ctx;
  const flags = ['--json-schema-flexible-ws'];
  const spaced = docs.map((d) => ({ ...d, kind: `flexible-ws: ${d.kind}`, texts: d.texts.map((t) => respace(t, rng)) }));
  const r = judgeSchema(vkagent, file, schema, spaced, { flags, encoded: true });
  if (r.refused !== undefined || r.crashed !== undefined) {
    stats.failures.push({ what: `vkagent failed under ${flags[0]}`, schema, doc: { kind: 'flexible-ws', texts: [''], ajv: true, expected: true }, detail: r.refused ?? r.crashed });
    return;
  }
  addResults(stats, spaced, r);
  if (ctx.vocab && o.walks > 0) checkWalks(vkagent, file, oracle, rng.int(0, 1e6), o, stats, ctx.vocab, flags);
}

function runSchema(ctx, schema, uses, label, extraItems, convertRequired) {
  const { o, stats, faker, ajv, dir, vkagent, rng } = ctx;
  stats.schemas++;
  uses.forEach((k) => stats.count(stats.uses, k));
  const file = path.join(dir, `${label}.json`);
  writeFileSync(file, JSON.stringify(schema));
  let oracle;
  try {
    oracle = new Oracle(ajv, schema);
  } catch (e) {
    stats.failures.push({ what: `ajv cannot compile the schema (${e.message})`, schema, doc: { kind: label, texts: [''], ajv: false, expected: false } });
    return;
  }
  try {
    const items = [...extraItems, ...(extraItems.length ? [] : documentsFor(faker, oracle, rng, o, stats))];
    let { docs, unknownOrder } = buildDocs(oracle, items);
    if (!extraItems.length) docs = [...docs, ...buildDocs(oracle, textVariants(docs, schema, rng)).docs];
    stats.unknownOrder += unknownOrder;
    const r = judgeSchema(vkagent, file, schema, docs);
    if (r.refused !== undefined) {
      stats.refused++;
      const kw = refusalKeyword(r.refused);
      if (!uses.has('contradiction') && !uses.has('audit')) stats.count(stats.refusals, kw);
      stats.refusalMessages.set(kw, r.refused);
      if (convertRequired) stats.failures.push({ what: `refused (${r.refused})`, schema, doc: { kind: label, texts: [''], ajv: true, expected: true } });
      if (o.verbose) console.log(`${label}: refused: ${r.refused}`);
      return;
    }
    if (r.crashed !== undefined) {
      stats.crashed++;
      stats.failures.push({ what: 'vkagent failed', schema, doc: { kind: label, texts: [''], ajv: true, expected: true }, detail: r.crashed });
      return;
    }
    stats.converted++;
    stats.convertSeconds.push(r.seconds);
    addResults(stats, docs, r);
    if (o.verbose) console.log(`${label}: ${docs.length} documents, ${r.failures.length} failures`);
    if (ctx.vocab && o.walks > 0 && ctx.walkIndex++ % o.walkEvery === 0) checkWalks(vkagent, file, oracle, rng.int(0, 1e6), o, stats, ctx.vocab);
    if (o.flexibleEvery > 0 && ctx.flexibleIndex++ % o.flexibleEvery === 0) flexiblePhase(ctx, file, schema, oracle, docs);
  } finally {
    oracle.dispose();
  }
}

function report(stats, o, seconds) {
  const shown = stats.failures.slice(0, o.show);
  for (const f of shown) console.log(describeFailure(f));
  if (stats.failures.length > shown.length) console.log(`... and ${stats.failures.length - shown.length} more failures (--show N)`);
  console.log('\nkeywords: schemas using each, and refusals naming it (e.g. the first message):');
  const keywords = [...new Set([...SUPPORTED, ...IGNORED, ...stats.refusals.keys()])];
  const tooOften = [];
  for (const kw of keywords) {
    const used = stats.uses.get(kw) ?? 0;
    const n = stats.refusals.get(kw) ?? 0;
    const rate = used ? n / used : n ? 1 : 0;
    const flag = (SUPPORTED.includes(kw) || IGNORED.includes(kw)) && !PARTIAL[kw] && used >= REFUSAL_MIN_USES &&
      rate > REFUSAL_LIMIT;
    if (flag) tooOften.push(kw);
    const example = n ? `  ${stats.refusalMessages.get(kw).slice(0, 150)}` : '';
    const partial = PARTIAL[kw] && n ? `  (partial: ${PARTIAL[kw]})` : '';
    console.log(`  ${kw.padEnd(32)} used ${String(used).padStart(4)}  refused ${String(n).padStart(4)}${flag ? '  TOO OFTEN' : ''}${partial}${example}`);
  }
  if (stats.departures.size) console.log(`departures: ${[...stats.departures].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const t = [...stats.convertSeconds].sort((a, b) => a - b);
  const pct = (p) => (t.length ? (1e3 * t[Math.min(t.length - 1, Math.floor(p * t.length))]).toFixed(0) : '-');
  console.log(`check process per schema: p50 ${pct(0.5)} ms, max ${pct(1)} ms; ${stats.unknownOrder} valid documents skipped (member order unknown), ${stats.fakerFailures} faker failures, ${stats.walkCapped} walks cut off`);
  console.log(`structured property (seed ${o.seed}): ${stats.schemas} schemas, ${stats.converted} converted, ${stats.refused} refused, ` +
    `${stats.documents} documents (${stats.valid} valid), ${stats.agreements} agreements, ${[...stats.departures.values()].reduce((a, b) => a + b, 0)} departures, ` +
    `${stats.walks} walks, ${stats.failures.length} failures, ${seconds.toFixed(1)} s`);
  const walkFailures = stats.failures.filter((f) => f.doc.kind.startsWith('walk')).length;
  const passed = stats.agreements + Math.max(0, stats.walks - walkFailures);
  if (tooOften.length) console.log(`FAIL: refused too often (over ${REFUSAL_LIMIT * 100}% of at least ${REFUSAL_MIN_USES} uses): ${tooOften.join(', ')}`);
  console.log(`${passed} passed, ${stats.failures.length + tooOften.length} failed`);
  return stats.failures.length === 0 && tooOften.length === 0;
}

async function main() {
  const o = parseArgs(process.argv);
  const missing = depsMissing();
  if (missing) {
    console.log(`FAIL: ${missing} is not installed in tests/validator (run ./scripts/setup, which runs npm ci there)`);
    process.exit(1);
  }
  const vkagent = findVkagent(o.vkagent, sourceDir);
  if (!vkagent) {
    console.log('FAIL: no vkagent binary (give --vkagent or set VKAGENT_BUILD_DIR)');
    process.exit(1);
  }
  const data = process.env.VKAGENT_TEST_DATA || path.join(sourceDir, '..', 'shared');
  const vocab = path.join(data, 'fixtures', 'vocab', 'qwen3.gguf');
  const dir = o.keep ?? mkdtempSync(path.join(os.tmpdir(), 'vka-property-'));
  const ctx = { o, stats: new Stats(), faker: await loadFaker(), ajv: makeAjv(), dir, vkagent, walkIndex: 0, flexibleIndex: 0,
    vocab: existsSync(vocab) ? vocab : null, rng: null };
  if (!ctx.vocab) console.log(`SKIP (walks only): fixture missing: ${vocab} (set VKAGENT_TEST_DATA)`);
  const t0 = Date.now();
  for (const [i, c] of AUDIT.entries()) {
    ctx.rng = makeRng(i);
    runSchema(ctx, c.schema, new Set(['audit']), `audit-${i}`, c.docs.map((text) => ({ kind: `audit: ${c.name}`, text })), c.convert);
  }
  for (let i = 0; i < o.schemas; i++) {
    ctx.rng = makeRng(Number(o.seed) * 1000003 + i);
    const { schema, uses } = generateSchema(ctx.rng.fork());
    runSchema(ctx, schema, uses, `schema-${i}`, [], false);
  }
  const ok = report(ctx.stats, o, (Date.now() - t0) / 1000);
  if (!o.keep) rmSync(dir, { recursive: true, force: true });
  process.exit(ok ? 0 : 1);
}

await main();
