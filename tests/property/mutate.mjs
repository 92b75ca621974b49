// mutate.mjs — documents near the edge of a schema, made from valid-looking
// ones: a member removed or added, a value of the wrong type, a string one
// code point too long or too short, a number just out of range or off its
// multipleOf, an enum or const value changed, an array item duplicated,
// removed or added. The schemas at each position (canonical.mjs
// `positions`) aim the mutations at the bounds; ajv decides what each
// mutant is. Text-level variants (a declared key repeated, a character
// spelled as an escape) are made from a document's text.
import { positions } from './canonical.mjs';

const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const codePoints = (s) => [...s];

function setAt(root, path, value) {
  if (!path.length) return value;
  const copy = structuredClone(root);
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k];
  node[path[path.length - 1]] = value;
  return copy;
}

function editAt(root, path, edit) {
  const copy = structuredClone(root);
  let node = copy;
  for (const k of path) node = node[k];
  edit(node);
  return copy;
}

// Facets of the schemas at a position, the first one given wins.
function facet(schemas, key) {
  for (const s of schemas) if (s[key] !== undefined) return s[key];
  return undefined;
}

function wrongType(v, rng) {
  if (typeof v === 'string') return rng.pick([123, null, ['x']]);
  if (typeof v === 'number') return rng.pick([String(v), true, { n: v }]);
  if (typeof v === 'boolean') return rng.pick([null, 0, 'true']);
  if (v === null) return rng.pick([0, false, '']);
  if (Array.isArray(v)) return rng.pick([{}, 'list', v.length]);
  return rng.pick([[], 'object', 1]);
}

function stringMutants(v, schemas, rng) {
  const out = [];
  const cps = codePoints(v);
  const max = facet(schemas, 'maxLength');
  const min = facet(schemas, 'minLength');
  const pad = (n, ch) => cps.concat(Array(Math.max(0, n - cps.length)).fill(ch)).slice(0, n).join('');
  if (typeof max === 'number' && max < 5000) {
    out.push(['string one too long', pad(max + 1, 'a')]);
    out.push(['string one too long (astral)', pad(max + 1, '\u{1F600}')]);
    out.push(['string at maxLength (astral)', pad(max, '\u{1F600}')]);
  }
  if (typeof min === 'number' && min > 0) {
    out.push(['string one too short', pad(min - 1, 'a')]);
    out.push(['string at minLength (astral)', pad(min, '\u{1F600}')]);
  }
  if (facet(schemas, 'pattern') !== undefined || facet(schemas, 'format') !== undefined) {
    const i = rng.int(0, Math.max(0, cps.length - 1));
    out.push(['string character changed', cps.map((c, k) => (k === i ? rng.pick(['a', 'Z', '0', '-', ' ', ':', '.', 'é']) : c)).join('')]);
    out.push(['string character added', v + rng.pick(['x', '0', ' ', '\n'])]);
    if (cps.length) out.push(['string character removed', cps.slice(0, -1).join('')]);
  }
  out.push(['string changed', v + 'x']);
  return out;
}

function numberMutants(v, schemas, rng) {
  const out = [];
  const integer = schemas.some((s) => s.type === 'integer');
  const step = integer ? 1 : 0.5;
  for (const [key, dir] of [['maximum', 1], ['minimum', -1]]) {
    const b = facet(schemas, key);
    if (typeof b === 'number') {
      out.push([`number just past ${key}`, b + dir * step]);
      if (!integer) out.push([`number a hair past ${key}`, b + dir * Math.max(Math.abs(b) * 1e-12, 1e-9)]);
      out.push([`number at ${key}`, b]);
    }
  }
  for (const key of ['exclusiveMaximum', 'exclusiveMinimum']) {
    const b = facet(schemas, key);
    if (typeof b === 'number') out.push([`number at ${key}`, b]);
  }
  const m = facet(schemas, 'multipleOf');
  if (typeof m === 'number') out.push(['number off multipleOf', v + m / 2]);
  if (integer) out.push(['integer with a fraction', v + 0.5]);
  out.push(['number changed', v + rng.pick([1, -1, 1000, 0.25])]);
  return out;
}

function objectMutants(v, schemas, rng) {
  const out = [];
  const keys = Object.keys(v);
  if (keys.length) {
    const k = rng.pick(keys);
    out.push([`member '${k}' removed`, (o) => delete o[k]]);
  }
  const declared = [...new Set(schemas.flatMap((s) => Object.keys(s.properties ?? {})))];
  const absent = declared.filter((k) => !(k in v));
  if (absent.length) out.push(['declared member added', (o) => { o[rng.pick(absent)] = rng.pick([1, 'x', null, [], {}]); }]);
  out.push(['extra member added', (o) => { o[rng.pick(['extra', 'x-extra', 'the_id', 'Extra', 'zz'])] = rng.pick([1, 'x', null, true]); }]);
  if (keys.length && declared.length) {
    const k = rng.pick(keys);
    out.push([`member '${k}' given another value`, (o) => { o[k] = wrongType(o[k], rng); }]);
  }
  return out;
}

function arrayMutants(v, rng) {
  const out = [];
  if (v.length) {
    const i = rng.int(0, v.length - 1);
    out.push(['array item duplicated', (a) => a.push(structuredClone(a[i]))]);
    out.push(['array item removed', (a) => a.splice(i, 1)]);
  }
  out.push(['array item added', (a) => a.push(rng.pick([0, 'x', null, 3, 10]))]);
  return out;
}

// Value mutants of `value`: [{kind, value}], at most `limit`, drawn with rng.
export function mutants(layout, value, rng, limit) {
  const all = [];
  for (const pos of positions(layout, value)) {
    const { path, value: v, schemas } = pos;
    const enumValues = facet(schemas, 'enum');
    const constValue = facet(schemas, 'const');
    if (Array.isArray(enumValues) || constValue !== undefined)
      all.push({ kind: 'enum/const value changed', value: setAt(value, path, typeof v === 'string' ? `${v}!` : typeof v === 'number' ? v + 1 : 'changed') });
    all.push({ kind: 'wrong type', value: setAt(value, path, wrongType(v, rng)) });
    if (typeof v === 'string') for (const [kind, nv] of stringMutants(v, schemas, rng)) all.push({ kind, value: setAt(value, path, nv) });
    else if (typeof v === 'number') for (const [kind, nv] of numberMutants(v, schemas, rng)) all.push({ kind, value: setAt(value, path, nv) });
    else if (Array.isArray(v)) for (const [kind, edit] of arrayMutants(v, rng)) all.push({ kind, value: editAt(value, path, edit) });
    else if (isObject(v)) for (const [kind, edit] of objectMutants(v, schemas, rng)) all.push({ kind, value: editAt(value, path, edit) });
  }
  return rng.sample(all, limit);
}

// ---------------------------------------------------------------- text level

const WHITESPACE = [' ', '\n', '\t', '\r', '  ', '\n  ', '\r\n\t'];

// The compact text with JSON whitespace between some of its tokens (never
// before the first or after the last): the same document, flexibly spaced.
export function respace(text, rng) {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else out += c;
    const structural = '{}[],:'.includes(c) || c === '"' || '{}[],:'.includes(text[i + 1] ?? '');
    if (i < text.length - 1 && structural && rng.chance(0.5)) out += rng.pick(WHITESPACE);
  }
  return out;
}

// Scans compact JSON text (as JSON.stringify writes it): calls onKey(start,
// end, depth) for each member name and onString(start, end) for each string
// value, offsets of the quotes included.
function scanStrings(text, onKey, onString) {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (text[j + 1] === ':') onKey(i, j + 1, depth);
      else onString(i, j + 1);
      i = j;
    }
  }
}

// The text with one character of a string value spelled as a \u escape (a
// surrogate pair for astral characters): the same value, another spelling.
export function escapeRespelling(text, rng) {
  const spans = [];
  scanStrings(text, () => {}, (a, b) => { if (b - a > 2) spans.push([a, b]); });
  if (!spans.length) return null;
  const [a, b] = rng.pick(spans);
  const inner = text.slice(a + 1, b - 1);
  // a character that is not part of an escape already
  const chars = [];
  for (let i = 0; i < inner.length;) {
    if (inner[i] === '\\') { i += inner[i + 1] === 'u' ? 6 : 2; continue; }
    const cp = inner.codePointAt(i);
    chars.push([i, cp]);
    i += cp > 0xffff ? 2 : 1;
  }
  if (!chars.length) return null;
  const [i, cp] = rng.pick(chars);
  const hex = (n) => `\\u${n.toString(16).padStart(4, '0')}`;
  const esc = cp > 0xffff ? hex(0xd800 + ((cp - 0x10000) >> 10)) + hex(0xdc00 + ((cp - 0x10000) & 0x3ff)) : hex(cp);
  const width = cp > 0xffff ? 2 : 1;
  return text.slice(0, a + 1) + inner.slice(0, i) + esc + inner.slice(i + width) + text.slice(b - 1);
}

// The text with a member of the outermost object that has `names` among its
// members repeated at its end with another value: {"a":1,"b":2,"a":99}.
// JSON.parse keeps the last; the converter's documented rule is that a
// declared key never repeats. Returns null when there is no such member.
export function repeatedKey(text, names) {
  if (!text.startsWith('{')) return null;
  let found = null;
  scanStrings(text, (a, b, depth) => {
    if (!found && depth === 1 && names.includes(JSON.parse(text.slice(a, b)))) found = text.slice(a, b);
  }, () => {});
  if (!found) return null;
  return `${text.slice(0, -1)},${found}:0}`;
}
