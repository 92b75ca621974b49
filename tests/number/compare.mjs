// compare.mjs — the numeric-keyword grammars (engine/structured/json_number.c, through
// the number_probe filter) against ajv 8, the oracle, on seeded random specs
// and candidate texts. usage: node compare.mjs PROBE [SEED] [SPECS]
//
// For every spec and text: a text the grammar accepts must be one ajv
// accepts (soundness, no exception); js_number_admits must agree with ajv on
// the double the text parses to; a text ajv accepts that the grammar rejects
// must fall under one of the departures listed in departure() below, else
// it is a failure. Texts from random walks through each grammar must all be
// accepted by ajv.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const [, , probe, seedArg = '1', specsArg = '400'] = process.argv;
const validatorPkg = new URL('../validator/package.json', import.meta.url);
if (!existsSync(new URL('../validator/node_modules/ajv/package.json', import.meta.url))) {
  console.log('SKIP: ajv is not installed in tests/validator (run ./scripts/setup, which runs npm ci there)');
  process.exit(77);
}
const Ajv2020 = createRequire(validatorPkg)('ajv/dist/2020.js');
// strictNumbers: a number must be finite (JSON.parse gives Infinity for 1e999;
// the issue requires every admitted number to parse to a finite double)
const ajv = new Ajv2020({ strict: false, strictNumbers: true });

// ---------------------------------------------------------------- seeded randomness
let rngState = BigInt(seedArg) * 0x9e3779b97f4a7c15n + 1n;
function rand() {
  rngState = (rngState * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
  return Number(rngState >> 11n) / 2 ** 53;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (xs) => xs[randInt(0, xs.length - 1)];
const digits = (n) => Array.from({ length: n }, () => randInt(0, 9)).join('');

// ---------------------------------------------------------------- exact decimals
// A double as an exact rational num / 10^scale (num a BigInt).
const view = new DataView(new ArrayBuffer(8));
function exact(x) {
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const neg = bits >> 63n === 1n;
  const e = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & ((1n << 52n) - 1n);
  const s = e === 0 ? frac : frac | (1n << 52n);
  const p = e === 0 ? -1074 : e - 1075;
  let num, scale;
  if (p >= 0) (num = s << BigInt(p)), (scale = 0);
  else (num = s * 5n ** BigInt(-p)), (scale = -p);
  return { num: neg ? -num : num, scale };
}
function align(a, b) {
  const scale = Math.max(a.scale, b.scale);
  return [a.num * 10n ** BigInt(scale - a.scale), b.num * 10n ** BigInt(scale - b.scale), scale];
}
function midpoint(a, b) {
  const [x, y, scale] = align(a, b);
  return { num: (x + y) * 5n, scale: scale + 1 };
}
// The multiple of 10^-k at or below (down) or above (up) the rational, as text.
function decimalText(r, k, up) {
  let num = r.num;
  let q;
  if (k >= r.scale) q = num * 10n ** BigInt(k - r.scale);
  else {
    const d = 10n ** BigInt(r.scale - k);
    q = num / d; // truncates toward zero
    const rem = num % d;
    if (rem !== 0n && up && num > 0n) q += 1n;
    if (rem !== 0n && !up && num < 0n) q -= 1n;
  }
  return fixed(q, k);
}
function fixed(q, k) {
  const neg = q < 0n;
  let s = (neg ? -q : q).toString().padStart(k + 1, '0');
  if (k > 0) s = s.slice(0, s.length - k) + '.' + s.slice(s.length - k);
  return (neg ? '-' : '') + s;
}
function nextUp(x) {
  if (x === 0) return 5e-324;
  view.setFloat64(0, x);
  let bits = view.getBigUint64(0);
  bits += x > 0 ? 1n : -1n;
  view.setBigUint64(0, bits);
  return view.getFloat64(0);
}
const nextDown = (x) => -nextUp(-x);

// m = c / 2^j with c an integer (odd when j > 0), j <= 24; null otherwise.
function dyadic(m) {
  if (m > 2 ** 53) return { c: null, j: 0 };
  for (let j = 0; j <= 24; j++) {
    const c = m * 2 ** j;
    if (Number.isInteger(c)) return { c: BigInt(c), j };
  }
  return null;
}

// ---------------------------------------------------------------- specs
const pool = [0, -0, 1, -1, 0.1, -0.1, 0.3, 0.5, -0.5, 1e-7, 1.5e-7, 2.5, 99.99, 100, -100, 123.456, 1e16, 1e21,
  1e22, 1e308, -1e308, 2 ** 53, 2 ** 53 - 1, -(2 ** 53), 1 - 2 ** 53, 2 ** 53 + 2, 9007199254740993, 5e-324,
  2.2250738585072014e-308, 0.1 + 0.2, 1 / 3, 2 ** 52 + 0.5, 4503599627370495.5, 1e15 + 0.3, 0.000001, 1e-6 - 1e-22];
const multiples = [1, 2, 3, 7, 10, 13, 60, 100, 1000, 1024, 3600, 0.5, 0.25, 0.125, 1.5, 2.5, 0.75, 0.0625,
  2 ** 53, 2 ** 60, 1e20, 1 / 1024, 0.1, 0.01, 0.3];
function randomDouble() {
  switch (randInt(0, 5)) {
    case 0: return pick(pool);
    case 1: return (rand() < 0.5 ? -1 : 1) * randInt(0, 10 ** randInt(1, 6));
    case 2: return Number((rand() < 0.3 ? '-' : '') + digits(randInt(1, 6)) + '.' + digits(randInt(1, 6)));
    case 3: return Number(`${rand() < 0.3 ? '-' : ''}${randInt(1, 9)}.${digits(randInt(0, 16))}e${randInt(-12, 22)}`);
    case 4: { view.setBigUint64(0, BigInt.asUintN(64, rngState ^ (rngState << 7n))); rand();
      const x = view.getFloat64(0); return Number.isFinite(x) ? x : 1; }
    default: return (rand() < 0.5 ? -1 : 1) * 2 ** randInt(0, 60) + randInt(-3, 3);
  }
}
function randomSpec() {
  const spec = { integer: rand() < 0.5, hasMin: rand() < 0.65, minExcl: rand() < 0.4, min: 0,
    hasMax: rand() < 0.65, maxExcl: rand() < 0.4, max: 0, mult: 0 };
  spec.min = randomDouble();
  spec.max = rand() < 0.4 ? spec.min + pick([0, 1, 0.5, 1e-9, 100, 2 ** randInt(-30, 40)]) : randomDouble();
  if (spec.hasMin && spec.hasMax && spec.min > spec.max && rand() < 0.8) [spec.min, spec.max] = [spec.max, spec.min];
  if (rand() < 0.4) spec.mult = pick(multiples);
  return spec;
}
function schemaOf(s) {
  const schema = { type: s.integer ? 'integer' : 'number' };
  if (s.hasMin) schema[s.minExcl ? 'exclusiveMinimum' : 'minimum'] = s.min;
  if (s.hasMax) schema[s.maxExcl ? 'exclusiveMaximum' : 'maximum'] = s.max;
  if (s.mult) schema.multipleOf = s.mult;
  return schema;
}
const specLine = (s) => `S ${+s.integer} ${+s.hasMin} ${+s.minExcl} ${s.min} ${+s.hasMax} ${+s.maxExcl} ${s.max} ${s.mult}`;

// ---------------------------------------------------------------- candidate texts
function textsNear(x, out) {
  for (const y of [x, nextUp(x), nextDown(x)]) {
    out.push(String(y));
    for (let k = 0; k <= 23; k += randInt(1, 4)) if (Math.abs(y) < 1e21) out.push(y.toFixed(k));
  }
  // around the midpoints with both neighbours, at many digit counts
  for (const [a, b] of [[x, nextUp(x)], [nextDown(x), x]]) {
    if (!Number.isFinite(a) || !Number.isFinite(b) || Math.abs(x) > 1e22) continue;
    const mid = midpoint(exact(a), exact(b));
    for (let k = 0; k <= 24; k += randInt(1, 3)) {
      const down = decimalText(mid, k, false), up = decimalText(mid, k, true);
      out.push(down, up);
      out.push(fixed(BigInt(down.replace('.', '')) - 1n, k), fixed(BigInt(up.replace('.', '')) + 1n, k));
    }
    if (mid.scale <= 24) out.push(decimalText(mid, mid.scale, false));
  }
}
function textsOfMultiples(spec, out) {
  const d = dyadic(spec.mult);
  if (!d || d.c === null) return;
  const { c, j } = d;
  const push = (q) => {
    const v = { num: q * c * 5n ** BigInt(j), scale: j };
    out.push(decimalText(v, j, false));
    if (j > 0 && rand() < 0.3) out.push(decimalText(v, j + 1, false));
  };
  for (const b of [spec.min, spec.max]) {
    if (!Number.isFinite(b) || Math.abs(b / spec.mult) > 1e17) continue;
    const q0 = BigInt(Math.round(b / spec.mult));
    for (let i = -3n; i <= 3n; i++) push(q0 + i);
  }
  const edge = (2n ** 53n) / c; // the window's last multiple (number type)
  for (const q of [edge, edge + 1n, -edge, -edge - 1n, 0n, 1n, -1n]) push(q);
  for (let i = 0; i < 10; i++) push(BigInt(randInt(-1e6, 1e6)));
}
function randomTexts(out) {
  for (let i = 0; i < 40; i++) {
    let t = (rand() < 0.3 ? '-' : '') + (rand() < 0.2 ? '0' : randInt(1, 9) + digits(randInt(0, 23)));
    if (rand() < 0.5) t += '.' + digits(randInt(1, 25));
    if (rand() < 0.3) t += pick(['e', 'E']) + pick(['', '+', '-']) + digits(randInt(1, 4));
    out.push(t);
  }
}
const fixedTexts = ['0', '-0', '-0.0', '0.0', '0e999', '-0e5', '1e308', '1e309', '1.7976931348623157e308',
  '1.7976931348623158e308', '1.7976931348623159e308', '1.79769313486231580793e308', '0.5e309', '10e307', '1e-400',
  '5e-324', '1E+2', '1e+21', '1.5e-7', '123.456', '9007199254740991', '9007199254740992', '9007199254740993',
  '-9007199254740993', '9999999999999999', '10000000000000000', '01', '1.', '.5', '+1', '--1', '1e', '', '0x10',
  'Infinity', 'NaN', ' 1', '1 ', '1e0308', '1e007', '100000000000000000000', '1000000000000000000000',
  '0.0000012345678901234567', '0.12345678901234568'];

// ---------------------------------------------------------------- departures
// Why the grammar may reject a text ajv accepts (the forms documented in
// engine/structured/json_number.c); null: no departure applies, so rejecting is a bug.
function exceeds(int, frac, window) { // |value| > window (a BigInt), exactly
  return BigInt(int + frac) > window * 10n ** BigInt(frac.length);
}
function departure(spec, text) {
  const m = /^(-?)(0|[1-9]\d*)(?:\.(\d+))?(?:[eE]([-+]?)(\d+))?$/.exec(text);
  const [, sign, int, frac = '', esign, edigits] = m;
  const hasExp = edigits !== undefined;
  const zero = !/[1-9]/.test(int + frac);
  const bounded = spec.hasMin || spec.hasMax || spec.mult > 0;
  if (spec.mult > 0 && !dyadic(spec.mult)) return 'multipleOf not an integer or a binary fraction';
  if (spec.integer && (frac || hasExp)) return 'integers are written without fraction or exponent';
  if (spec.integer && int.length > 16) return 'integers have at most 16 digits';
  if (bounded) {
    if (hasExp) return 'no exponent under bounds or multipleOf';
    if (sign && zero) return 'no -0 under bounds or multipleOf';
  }
  if (int.length > 21) return 'at most 21 integer digits';
  if (frac.length > 22) return 'at most 22 fraction digits';
  if (spec.mult > 0) {
    const { c, j } = dyadic(spec.mult);
    if (frac.length > (spec.integer ? 0 : j)) return 'multiples are written with at most the binary places of multipleOf';
    const window = c === null ? 0n : spec.integer && j <= 16 ? 2n ** 53n : 2n ** BigInt(53 - j);
    if (exceeds(int, frac, window)) return 'multiples beyond 2^(53-j) are not written';
    // Only texts whose decimal value is an exact multiple are written. ajv
    // also passes others: a text that rounds to a multiple (910000000000000.1
    // parses to ...0.125), and an x whose rounded quotient x / m is integral
    // beyond 2^53 although x is no multiple
    const mm = exact(spec.mult);
    if ((BigInt(int + frac) * 10n ** BigInt(mm.scale)) % (mm.num * 10n ** BigInt(frac.length)) !== 0n)
      return 'only texts whose decimal value is an exact multiple are written';
  }
  if (!bounded && !spec.integer && hasExp) {
    if (edigits.length > 3) return 'exponents have at most 3 digits';
    const e = Number(edigits);
    const limit = int === '0' ? 308 : int.length === 1 ? 307 : 287;
    if (esign !== '-' && e > limit && !(int.length === 1 && int !== '0' && e === 308 && frac.length <= 16))
      return 'values written with an exponent stay below 1e308 (and 1.7976931348623158e308)';
  }
  return null;
}

// ---------------------------------------------------------------- run
const nSpecs = Number(specsArg);
const specs = [];
const lines = [];
const expect = []; // per T line: { spec index, text }
for (let i = 0; i < nSpecs; i++) {
  const spec = i === 0 ? { integer: false, hasMin: false, minExcl: false, hasMax: false, maxExcl: false, mult: 0, min: 0, max: 0 }
    : i === 1 ? { integer: true, hasMin: false, minExcl: false, hasMax: false, maxExcl: false, mult: 0, min: 0, max: 0 } : randomSpec();
  specs.push(spec);
  const texts = [...fixedTexts];
  if (spec.hasMin) textsNear(spec.min, texts);
  if (spec.hasMax) textsNear(spec.max, texts);
  if (spec.mult) textsOfMultiples(spec, texts);
  randomTexts(texts);
  textsNear(randomDouble(), texts); // unrelated values
  textsNear(randomDouble(), texts);
  lines.push(specLine(spec));
  for (const t of texts) {
    if (/[\r\n]/.test(t)) continue;
    lines.push('T ' + t);
    expect.push({ spec: i, text: t });
  }
  lines.push(`W 30 ${i + 1}`);
}
const run = spawnSync(probe, [], { input: lines.join('\n') + '\n', maxBuffer: 1 << 30, encoding: 'utf8' });
if (run.status !== 0) {
  console.log(`FAIL: probe exited with ${run.status}: ${run.stderr}`);
  process.exit(1);
}
const out = run.stdout.split('\n');
let failures = 0, checked = 0, accepted = 0, departed = 0, walks = 0, refused = 0, maxBytes = 0;
const departures = new Map();
const fail = (msg) => { if (failures++ < 40) console.log('FAIL ' + msg); };
let o = 0, e = 0, specIndex = -1, validate = null, grammarOk = false;
for (const line of lines) {
  if (line[0] === 'S') {
    specIndex++;
    const spec = specs[specIndex];
    validate = ajv.compile(schemaOf(spec));
    const g = out[o++];
    grammarOk = g.startsWith('G ok');
    if (grammarOk) maxBytes = Math.max(maxBytes, Number(g.split(' ')[2]));
    else {
      refused++;
      const d = dyadic(spec.mult);
      if (!(spec.mult && !d) && !/nothing satisfies/.test(g))
        fail(`${specLine(spec)}: unexpected refusal: ${g}`);
    }
    continue;
  }
  if (line[0] === 'W') {
    const spec = specs[specIndex];
    while (o < out.length && out[o].startsWith('w ')) {
      const text = out[o++].slice(2);
      walks++;
      let value, ok = false;
      try { value = JSON.parse(text); ok = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(text) && validate(value); } catch { ok = false; }
      if (!ok) fail(`${specLine(spec)}: the grammar generated ${text}, which ajv rejects`);
    }
    continue;
  }
  const { text } = expect[e++];
  const [g, a] = out[o++].split(' ');
  const spec = specs[specIndex];
  let value, syntax = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/.test(text);
  try { value = JSON.parse(text); } catch { syntax = false; }
  const valid = syntax && validate(value);
  checked++;
  if (!syntax) {
    if (a !== 'x' || g === '1') fail(`${specLine(spec)}: ${JSON.stringify(text)} is not a JSON number, probe says ${g} ${a}`);
    continue;
  }
  if (a !== (valid ? '1' : '0')) fail(`${specLine(spec)}: js_number_admits(${text}) = ${a}, ajv says ${valid}`);
  if (g === '1' && !valid) fail(`${specLine(spec)}: UNSOUND: the grammar accepts ${text}, ajv rejects it`);
  if (g === '1') accepted++;
  if (g !== '1' && valid) {
    const why = departure(spec, text);
    if (!why && g !== '-') fail(`${specLine(spec)}: the grammar rejects ${text}, which ajv accepts (no departure applies)`);
    if (!why && g === '-') fail(`${specLine(spec)}: refused, but ajv accepts ${text} (no departure applies)`);
    if (why) departed++, departures.set(why, (departures.get(why) || 0) + 1);
  }
}
console.log(`json_number vs ajv: ${specs.length} specs (${refused} refused), ${checked} texts, ${accepted} accepted by the grammar, ` +
  `${departed} accepted by ajv only under a listed departure, ${walks} random-walk texts; largest grammar ${maxBytes} bytes`);
for (const [why, n] of departures) console.log(`  departure: ${why}: ${n}`);
if (accepted < checked / 20 || walks < specs.length * 10) fail('too few accepted texts: the test would not test much');
console.log(failures ? `FAIL: ${failures} failures` : 'ok');
process.exit(failures ? 1 : 0);
