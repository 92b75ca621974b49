// compare.mjs — the regex module (through tests/regex_probe) against
// JavaScript itself: for a corpus of patterns, `new RegExp(p, "u").test(s)`
// on seeded random strings, samples from json-schema-faker and near-miss
// mutations of them; for every ajv-formats string format, ajv-formats' own
// decision; and for the formats ajv defines by one regular expression, the
// exact language of that expression (parsed by our parser) against ours.
// The probe also checks every string through the rendered GBNF (raw and in
// JSON spelling). usage: node compare.mjs PROBE [SEED] [SCALE]
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const [, , probe, seedArg = '1', scaleArg = '1'] = process.argv;
const validator = new URL('../validator/', import.meta.url);
if (!existsSync(new URL('node_modules/ajv-formats/package.json', validator)) ||
    !existsSync(new URL('node_modules/json-schema-faker/package.json', validator))) {
  console.log('SKIP: tests/validator/node_modules lacks ajv-formats or json-schema-faker (run scripts/setup)');
  process.exit(77);
}
const require = createRequire(new URL('package.json', validator));
const { fullFormats } = require('ajv-formats/dist/formats');
const formatsSource = readFileSync(require.resolve('ajv-formats/dist/formats'), 'utf8');
const { generateSync } = await import(new URL('node_modules/json-schema-faker/dist/index.js', validator));

let seed = Number(seedArg) >>> 0 || 1;
const scale = Number(scaleArg) || 1;
function rand() {   // mulberry32
  seed = (seed + 0x6D2B79F5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const cps = (s) => Array.from(s, (c) => c.codePointAt(0));
const show = (s) => JSON.stringify(s);

// ------------------------------------------------------------------ corpus

// Patterns of real schemas, and one or more of every construct. `refuse`:
// a pattern JavaScript accepts that we refuse on purpose (the error names it).
const patterns = [
  '^[a-zA-Z0-9_-]+$', '^\\d{3}-\\d{4}$', '^(\\([0-9]{3}\\))?[0-9]{3}-[0-9]{4}$', '^https?://', '^[a-z]+$',
  '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$',
  '^[A-Z]{2}$', '^[0-9]{5}(-[0-9]{4})?$', '^#[0-9a-fA-F]{6}$', '^#?([a-f0-9]{6}|[a-f0-9]{3})$',
  '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$', '^\\S+$', '^\\s*$', '^(?!\\s*$).+', '^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$',
  '^\\$\\{.+\\}$', '^(\\d+|\\$\\{.*\\})$', '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  '^v?\\d+(\\.\\d+){0,2}$', '^([01]?\\d|2[0-3]):[0-5]\\d$', '^\\+?[1-9]\\d{1,14}$', '^[A-Za-z]:\\\\', 'abc',
  'a|b', '^a|b$', '(^|,)x(,|$)', '^$', '', 'x*', '^(?:a|b)*c$', '^.{2,5}$', '^.{0,3}$', '[\\u00e9-\\u00ff]',
  '\\u{1F600}', '^\\uD83D\\uDE00$', '^[\\u{1F600}-\\u{1F64F}]+$', '^[^a-z]*$', '^[\\w.-]+$', '^\\W+$', '^\\D\\d$',
  '[\\s\\S]', '^.$', '^\\x41\\cJ\\0\\t\\v\\f\\r\\n$', '^\\/\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\$',
  '^[\\b]$', '^[\\-a]$', '^[a-]$', '^[-a]$', '^[--a]+$', '^[\\d-]+$', '^(?<year>\\d{4})-(?<m>\\d\\d)$',
  '^(a)(b)?(?:c)$', '^a{2}b{1,}c{0,2}d{3,3}$', '^a+?b*?c??d{1,2}?$', 'a(?=b)', 'a(?!b)', '^(?=.*\\d)(?=.*[a-z]).{4,}$',
  '^(?!.*--)[a-z-]+$', '(?=x)', '^(?=a)', '$^', '^^a$$', 'a^b', 'a$b', '\\$', '^[^]$', '^[]$',
  '^a{0}$', '^(?:)$', '^(|a)$', '^(a|)+$', '(a|ab)(c|bcd)(d*)', '^(\\d{1,3}\\.){3}\\d{1,3}$', '^[a-z]{1,100}$',
  '^.{1,200}$', '^a{70}$', '^(ab){1,40}$', '^\\d{2,}$', '^[\\p]$',
  // typical of API schemas
  '^[A-Z][a-z]+(?: [A-Z][a-z]+)*$', '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$', '^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$',
  '^(\\*|[0-9]+)$', '^[a-z0-9-]{1,63}$', '^/.*', '^[^/]+/[^/]+$', '^\\d+(\\.\\d+)?(ms|s|m|h)$', '^(true|false)$',
  '^[1-9][0-9]*[KMG]i?$', '^[a-z]{2}(-[A-Z]{2})?$', { p: '^\\p{L}+$', refuse: 'property' },
  // refused on purpose
  { p: '(?<=a)b', refuse: 'lookbehind' }, { p: '(?<!a)b', refuse: 'lookbehind' }, { p: '(a)\\1', refuse: 'back-reference' },
  { p: '(?<n>a)\\k<n>', refuse: 'back-reference' }, { p: '\\bword\\b', refuse: 'word boundary' },
  { p: 'a\\B', refuse: 'word-boundary' }, { p: '\\p{L}', refuse: 'property' }, { p: '\\P{Lu}', refuse: 'property' },
  '(?:^a)*', '^(?:a$){0,40}', '^(?:(?=.*b)a)*$', '(?:a|(?!b)c)+d$', '^(?:(?!ab).)*$', '^(?:x(?=y$)|y)+$',
  { p: '^.{0,100000}(?:^a)*$', refuse: 'repetition' },
  '[^\\s\\S]', '\\S\\s', '(?:)+', '^(a*)*b$', '^(?:a|b)*?c$', '^x{2,3}?$', '^[\\u{0}-\\u{10FFFF}]+$', '^[\\0-\\x1f]$',
  '^\\u{10FFFF}$', '\\ud800', '[\\ud800-\\udbff][\\udc00-\\udfff]', '(?=a)b', '(?!)', '(?=)', 'a(?=b$)', '^(?=(?=a)a)',
  '^(?!(?!a))a', 'a(?!b|c$)', '^(?:a(?=b)|b(?!a))+$', '(?:^|[^a])b(?=[^c]|$)', '^(?:(?=\\d{2})\\d|x)*$', { p: '(?<é>a)', refuse: 'group name' },
  // not valid with the u flag: both must refuse
  '\\-', 'a{', '{1}', 'a{2,1}', ']', '}', '(?=a)*', '\\c1', '[\\d-z]', '[z-a]', '\\00', '\\u{110000}', '(', ')', '[',
  '(?<a>x)(?<a>y)', '\\k', '(?<=', '\\xZ1', 'a**', '^*', '\\', '(?x)',
];

const formats = ['date', 'time', 'date-time', 'iso-time', 'iso-date-time', 'duration', 'uri', 'uri-reference',
  'uri-template', 'url', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid', 'json-pointer', 'json-pointer-uri-fragment',
  'relative-json-pointer', 'byte'];
const unknownFormats = ['regex', 'int32', 'int64', 'float', 'double', 'iri', 'idn-email', 'color'];

// ------------------------------------------------------------------ strings

const specials = [' ', '\n', '\r', '\t', '\u2028', '\u00a0', '\ufeff', 'é', 'É', 'ſ', 'K', '😀', '\u{10FFFF}', '_', '-',
  '.', '/', ':', '@', '\\', '"', '\u0000', '%', '#', '?', '=', '+', '~', '[', ']', '(', ')', '{', '}', '*', ','];
const letters = 'abcxyzABCXYZ0123456789';

function alphabetOf(text) {
  const set = new Set([...specials, ...letters]);
  for (const c of text) if (!'^$\\.*+?()[]{}|'.includes(c)) set.add(c);
  return [...set];
}

function randomString(alpha, maxLen) {
  let s = '';
  const n = Math.floor(rand() * (maxLen + 1));
  for (let i = 0; i < n; i++) s += pick(alpha);
  return s;
}

// Near misses: one edit, or a prefix/suffix added.
function mutate(s, alpha) {
  const a = Array.from(s);
  const i = Math.floor(rand() * (a.length + 1));
  switch (Math.floor(rand() * 7)) {
    case 0: a.splice(i, 1); break;
    case 1: a.splice(i, 0, pick(alpha)); break;
    case 2: if (a.length) a[Math.min(i, a.length - 1)] = pick(alpha); break;
    case 3: if (a.length > 1) { const j = Math.min(i, a.length - 2); [a[j], a[j + 1]] = [a[j + 1], a[j]]; } break;
    case 4: a.splice(i, 0, ...a.slice(i, i + 2)); break;
    case 5: return pick(alpha) + s;
    default: return s + pick(alpha);
  }
  return a.join('');
}

function fakerStrings(schema, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    try {
      const v = generateSync(schema, { seed: Math.floor(rand() * 1e9) });
      if (typeof v === 'string') out.push(v);
    } catch { /* faker cannot build every pattern: random strings still cover it */ }
  }
  return out;
}

function candidates(seeds, alpha, n) {
  const out = new Set(['', ...seeds]);
  for (let i = 0; i < n; i++) out.add(randomString(alpha, 1 + Math.floor(rand() * 12)));
  const base = [...out];
  for (let i = 0; i < n; i++) {
    let s = pick(base);
    for (let k = Math.floor(rand() * 3); k >= 0; k--) s = mutate(s, alpha);
    out.add(s);
  }
  return [...out].filter((s) => !/[\ud800-\udfff]/u.test(s));   // lone surrogates cannot be UTF-8
}

// ------------------------------------------------------------------ formats

// ajv-formats' decision for a string.
function ajvFormat(name, s) {
  const f = fullFormats[name];
  const v = typeof f === 'object' && !(f instanceof RegExp) ? f.validate : f;
  if (v instanceof RegExp) {
    v.lastIndex = 0;
    return v.test(s);
  }
  return v(s);
}

const d2 = (n) => String(n).padStart(2, '0');
const hex = (n) => Math.floor(rand() * 16 ** n).toString(16).padStart(n, '0');
const ri = (a, b) => a + Math.floor(rand() * (b - a + 1));
function genDate() {
  const y = pick(['2000', '1900', '2024', '2023', '0000', '9999', '2100', '1600', String(ri(0, 9999)).padStart(4, '0')]);
  return `${y}-${d2(ri(0, 13))}-${d2(pick([ri(0, 32), 28, 29, 30, 31]))}`;
}
function genOffset() {
  return pick(['Z', 'z', '', `+${d2(ri(0, 25))}:${d2(ri(0, 61))}`, `-${d2(ri(0, 23))}${d2(ri(0, 59))}`, '+00:00',
    '-00', `+${d2(ri(0, 24))}`, '+01:00', '-08:00']);
}
function genTime() {
  const frac = pick(['', '', '.5', '.123', `.${'9'.repeat(ri(12, 18))}`, `.${ri(0, 999999)}`]);
  const hm = pick([`${d2(ri(0, 24))}:${d2(ri(0, 60))}`, '23:59', '00:59', '15:59', '24:59']);
  return `${hm}:${d2(pick([ri(0, 61), 59, 60]))}${frac}${genOffset()}`;
}
function genUri() {
  const scheme = pick(['http', 'https', 'urn', 'a+b.c-d', 'ftp', 'x', '1a', '']);
  const host = pick(['example.com', '[::1]', '[v1.x]', '[2001:db8::7]', '192.168.0.1', '1.2.3.04', 'h%41st', '', 'ex"q']);
  const path = pick(['', '/', '/a/b', '/a%2Fb', '/~u', '/a b', "/'()", '/@:']);
  const rest = pick(['', '?q=1', '#frag', '?a#b', '#/x?', '?%zz']);
  return pick([`${scheme}://${pick(['', 'user:pw@'])}${host}${pick(['', ':80', ':'])}${path}${rest}`,
    `${scheme}:${path}${rest}`, `${scheme}:${host}${rest}`, `${path}${rest}`, `//${host}${path}`]);
}
function genIpv6() {
  const groups = Array.from({ length: ri(1, 8) }, () => hex(ri(1, 4)));
  const at = ri(0, groups.length);
  const withGap = [...groups.slice(0, at), '', ...groups.slice(at)].join(':').replace(/^:(?!:)|(?<!:):$/g, '::');
  return pick([groups.join(':'), withGap, `${groups.slice(0, 6).join(':')}:1.2.3.4`, `::ffff:${ri(0, 300)}.1.2.3`,
    '::', '::1', '1::', `${groups.slice(0, 5).join(':')}::1.2.3.4`]);
}
const generators = {
  date: genDate, time: genTime, 'iso-time': genTime,
  'date-time': () => `${genDate()}${pick(['T', 't', ' ', '\n', '\u2028', 'x'])}${genTime()}`,
  'iso-date-time': () => `${genDate()}${pick(['T', 't', ' ', '\u00a0'])}${genTime()}`,
  duration: () => 'P' + pick(['', `${ri(0, 99)}Y`]) + pick(['', `${ri(0, 99)}M`]) + pick(['', `${ri(0, 9)}D`]) +
    pick(['', 'T', `T${ri(0, 9)}H`, `T${ri(0, 9)}M${ri(0, 9)}S`, `T${ri(0, 9)}S`]) + pick(['', '', `${ri(1, 9)}W`]),
  uri: genUri, 'uri-reference': genUri,
  'uri-template': () => pick(['', 'http://x/', '/a']) + pick(['{x}', '{+path}', '{#a,b:3}', '{x*}', '{%41b}', '{}', '{a:0}',
    '{a:10000}', '{a:9999}', 'x%2', '<', '{a,b}', ' ']),
  url: () => `${pick(['http', 'https', 'ftp', 'HTTPS', 'httpſ', 'ws'])}://${pick(['', 'u:p@', 'a b@'])}` +
    pick(['example.com', 'ex-ample.co.uk', 'xn--80ak6aa92e.com', 'bücher.de', '10.1.2.3', '172.16.0.1', '172.32.0.1',
      '8.8.8.8', '192.168.1.1', '169.254.0.1', '223.255.255.254', '224.0.0.1', '1.2.3.255', 'localhost', 'a.b', 'a.bc',
      'ex.c0m', '-a.com', 'a-.com']) + pick(['', ':8080', ':1', ':123456']) + pick(['', '/', '/path?q#f', '/a b']),
  email: () => pick(['a', 'a.b', "o'reilly", 'a..b', '.a', 'x+y', 'é', '']) + pick(['@', '@@', '']) +
    pick(['example.com', 'a-b.c', '-a.com', 'a.', 'x', 'a.b-', 'ex_ample.com']),
  hostname: () => {
    const labels = Array.from({ length: ri(1, 6) }, () => pick(['a', 'ab-c', 'x'.repeat(ri(60, 64)), '-a', 'a-', '0', 'é']));
    let h = labels.join('.');
    if (rand() < 0.3) h = Array.from({ length: ri(3, 5) }, () => 'y'.repeat(ri(55, 63))).join('.');
    return h + pick(['', '', '.']);
  },
  ipv4: () => Array.from({ length: pick([4, 4, 4, 3, 5]) }, () => pick([String(ri(0, 260)), '01', '00', '255', '256']))
    .join('.'),
  ipv6: genIpv6,
  uuid: () => pick(['', 'urn:uuid:', 'URN:UUID:', 'urn:']) + `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(pick([12, 12, 11]))}`,
  'json-pointer': () => pick(['', '/', '/a', '/a~0b', '/a~1b', '/a~2', 'a', '/~', '/ü/0']),
  'json-pointer-uri-fragment': () => pick(['#', '#/a', '#/a%20b', '#/a b', '#/~0', '/a', '#/%zz']),
  'relative-json-pointer': () => pick(['0', '1', '10', '01', '']) + pick(['', '#', '/a', '/a~1', '#/a']),
  byte: () => pick(['', 'QUJD', 'QUI=', 'QQ==', 'Q', 'QUJ', '!!!', '====']) + pick(['', '\n', '\r\n', '\u2028']) +
    pick(['', 'QQ==', '!', '\n']),
};

// Our documented departures (engine/structured/regex_formats.c): strings ajv accepts
// and we refuse on purpose. Times: a second 60, or any time outside
// 00:00-23:59, only at 23:59 with a zero offset; no fraction of second 59 or
// 60 that begins with fourteen 9s. Hostnames: at most 63 characters.
function departure(name, s) {
  if (name === 'hostname') return Array.from(s.replace(/\.$/, '')).length > 63;
  if (!/time/.test(name)) return false;
  const m = /(\d\d):(\d\d):(\d\d)(\.\d+)?(z|[+-]\d\d(?::?\d\d)?)?$/i.exec(s);
  if (!m) return false;
  const [, hh, mm, ss, frac = '', off = ''] = m;
  const zero = off === '' || /^(z|[+-]00(:?00)?)$/i.test(off);
  if ((ss === '59' || ss === '60') && frac.startsWith('.99999999999999')) return true;
  if (Number(hh) > 23 || Number(mm) > 59) return true;
  return ss === '60' && !(hh === '23' && mm === '59' && zero);
}
// Formats whose language is a documented subset of ajv's expression.
const subsetOfAjv = new Set(['hostname']);

// ------------------------------------------------------------------ running

const commands = [];   // [command, check(output)]
let failures = 0, checked = 0;
const fail = (msg) => {
  if (failures < 60) console.log(`FAIL ${msg}`);
  failures++;
};

function addTest(label, strings, expect, allowed = () => false, enabled = () => true) {
  commands.push([{ test: strings.map(cps) }, (out) => {
    if (!enabled()) return;
    if (out.mismatch) fail(`${label}: grammar and re_contains disagree: ${out.mismatch.slice(0, 3).join('; ')}`);
    strings.forEach((s, i) => {
      checked++;
      const ours = out.r[i] === '1', js = expect(s);
      if (ours === js) return;
      if (js && !ours && allowed(s)) return;
      fail(`${label}: ${show(s)}: ours ${ours ? 'accept' : 'reject'}, JavaScript ${js ? 'accept' : 'reject'}`);
    });
  }]);
}

const n = Math.round(120 * scale);
for (const entry of patterns) {
  const p = typeof entry === 'string' ? entry : entry.p;
  let re = null;
  try { re = new RegExp(p, 'u'); } catch { /* invalid in u-mode: we must refuse too */ }
  const compiled = { ok: false };
  commands.push([{ pattern: p }, (out) => {
    compiled.ok = out.ok;
    if (!re && out.ok) fail(`pattern ${show(p)}: invalid for JavaScript ("u" flag), accepted by us`);
    if (re && !out.ok && !entry.refuse) fail(`pattern ${show(p)}: refused: ${out.error}`);
    if (entry.refuse && out.ok) fail(`pattern ${show(p)}: should be refused (${entry.refuse})`);
    if (entry.refuse && !out.ok && !out.error.includes(entry.refuse)) fail(`pattern ${show(p)}: error ${show(out.error)} does not name ${entry.refuse}`);
    if (out.gbnf_error) fail(`pattern ${show(p)}: GBNF does not parse: ${out.gbnf_error}`);
  }]);
  if (!re || entry.refuse) continue;
  const alpha = alphabetOf(p);
  const strings = candidates(fakerStrings({ type: 'string', pattern: p }, 8), alpha, n);
  addTest(`pattern ${show(p)}`, strings, (s) => re.test(s), () => false, () => compiled.ok);
  // the same with length limits
  // the same with length limits; a huge bound may be refused as too complex
  // (a counter would be needed inside a language with several loops)
  const lo = ri(0, 3), hi = pick([ri(lo, 8), -1, 10000000]);
  const len = (s) => Array.from(s).length;
  const limited = { ok: false };
  commands.push([{ pattern: p, limit: [lo, hi] }, (out) => {
    if (!out.ok && !(hi === 10000000 && /too complex/.test(out.error))) fail(`pattern ${show(p)} limited to ${lo}..${hi}: ${out.error}`);
    limited.ok = out.ok;
  }]);
  addTest(`pattern ${show(p)} length ${lo}..${hi}`, strings, (s) => re.test(s) && len(s) >= lo && (hi < 0 || len(s) <= hi),
    () => false, () => limited.ok);
}

for (const name of formats) {
  commands.push([{ format: name }, (out) => {
    if (!out.ok || !out.known) fail(`format ${name}: ${out.error || 'unknown'}`);
    if (out.gbnf_error) fail(`format ${name}: GBNF does not parse: ${out.gbnf_error}`);
  }]);
  const seeds = [...fakerStrings({ type: 'string', format: name }, 10)];
  for (let i = 0; i < 8 * n; i++) seeds.push(generators[name]());
  const valid = seeds.filter((s) => ajvFormat(name, s));
  const alpha = alphabetOf(valid.join('') + '0123456789-:.TZ+');
  const strings = candidates([...seeds, ...valid], alpha, 4 * n);
  addTest(`format ${name}`, strings, (s) => ajvFormat(name, s), (s) => departure(name, s));
  if (valid.length < 5) fail(`format ${name}: only ${valid.length} valid samples were generated`);
}
for (const name of unknownFormats) {
  commands.push([{ format: name }, (out) => {
    if (!out.ok || out.known) fail(`format ${name}: should be unknown here`);
  }]);
}

// Exact comparisons with the languages of ajv's own format expressions.
const uriSource = /const URI = \/(.*)\/i;/.exec(formatsSource);
const exact = formats.map((name) => [name, fullFormats[name]])
  .filter(([name, f]) => f instanceof RegExp && name !== 'byte')   // byte uses the "m" flag: sampled above
  .map(([name, f]) => [name, f.source, f.flags]);
if (uriSource) exact.push(['uri', uriSource[1], 'i']);
else fail('could not find the URI expression in ajv-formats');
for (const [name, source, flags] of exact) {
  commands.push([{ equiv: { format: name, pattern: source, flags } }, (out) => {
    if (!out.ok) return fail(`format ${name}: ajv's expression not comparable: ${out.error}`);
    const w = (x) => (Array.isArray(x) ? show(String.fromCodePoint(...x)) : String(x));
    if (subsetOfAjv.has(name) ? out.ours_only !== null : !out.equal)
      fail(`format ${name}: language differs from ajv's expression: ours only ${w(out.ours_only)}, ajv only ${w(out.theirs_only)}`);
  }]);
}

const input = commands.map(([c]) => JSON.stringify(c)).join('\n') + '\n';
const run = spawnSync(probe, [], { input, maxBuffer: 1 << 30, encoding: 'utf8' });
if (run.status !== 0) {
  console.log(`FAIL probe exited with ${run.status} ${run.signal || ''}: ${run.stderr}`);
  process.exit(1);
}
const lines = run.stdout.split('\n').filter((l) => l.length);
if (lines.length !== commands.length) fail(`probe answered ${lines.length} of ${commands.length} commands`);
lines.forEach((l, i) => commands[i][1](JSON.parse(l)));
console.log(`regex_js: ${checked} decisions over ${patterns.length} patterns and ${formats.length} formats, ` +
  `${exact.length} exact format comparisons, ${failures} failures`);
process.exit(failures ? 1 : 0);
