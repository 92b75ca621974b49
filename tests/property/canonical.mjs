// canonical.mjs — the texts a JSON value may have in the converter's
// documented layout: compact JSON, object members in the order the schema
// declares them (the names of `properties`, then names only `required`),
// then the undeclared members. The schemas that apply at each position are
// followed through $ref, allOf, the anyOf/oneOf alternatives the value
// matches (the oracle says which), if/then/else and dependentSchemas; where
// several schemas declare names the converter's order among them is not
// known here, so each plausible order gives a candidate text. A valid value
// is accepted when one of its candidates is; an invalid one must have every
// candidate rejected. Where the candidates cannot be told (an unresolvable
// $ref, integer-like member names that JavaScript reorders, too many
// combinations) `layouts` throws Unknown.
import { pointerToken } from './oracle.mjs';

export class Unknown extends Error {}

const MAX_ALTERNATIVES = 16;
const MAX_TEXTS = 32;
const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
// JavaScript objects put these keys first whatever the text said.
const integerLike = (k) => /^(0|[1-9][0-9]{0,9})$/.test(k) && Number(k) < 4294967295;

function product(lists, join, cap) {
  let acc = [[]];
  for (const list of lists) {
    const next = [];
    for (const a of acc) for (const b of list) next.push([...a, b]);
    if (next.length > cap) throw new Unknown(`more than ${cap} combinations`);
    acc = next;
  }
  return acc.map(join);
}

function dedupe(alternatives) {
  const seen = new Map();
  for (const a of alternatives) seen.set(a.join('\n'), a);
  if (seen.size > MAX_ALTERNATIVES) throw new Unknown('too many alternatives');
  return [...seen.values()];
}

// The JSON pointer a local $ref names, or Unknown.
function refPointer(ref) {
  if (ref === '#') return '';
  if (ref.startsWith('#/')) return ref.slice(1);
  throw new Unknown(`$ref ${ref} is not a local JSON pointer`);
}

export class Layout {
  constructor(oracle) {
    this.oracle = oracle;
    this.order = documentOrder(oracle.schema);
  }

  // Alternatives (lists of schema pointers, all applying together) for one schema.
  expandOne(ptr, value, path) {
    const s = this.oracle.at(ptr);
    if (!isObject(s)) return [[]];
    if (path.has(ptr)) return [[]]; // a $ref cycle that consumes nothing: nothing new
    const inner = new Set(path).add(ptr);
    const factors = [[[ptr]]];
    const sub = (p) => this.expandOne(p, value, inner);
    if (typeof s.$ref === 'string') factors.push(sub(refPointer(s.$ref)));
    if (s.$dynamicRef !== undefined) throw new Unknown('$dynamicRef');
    (Array.isArray(s.allOf) ? s.allOf : []).forEach((_, i) => factors.push(sub(`${ptr}/allOf/${i}`)));
    for (const kw of ['anyOf', 'oneOf']) {
      if (!Array.isArray(s[kw])) continue;
      const matched = [];
      s[kw].forEach((_, i) => {
        const p = `${ptr}/${kw}/${i}`;
        if (this.oracle.validAt(p, value)) matched.push(...sub(p));
      });
      factors.push(matched.length ? matched : [[]]);
    }
    if ('if' in s) {
      const branch = this.oracle.validAt(`${ptr}/if`, value) ? 'then' : 'else';
      if (branch in s) {
        const alts = sub(`${ptr}/${branch}`);
        // the if schema itself may or may not be merged into the then branch
        factors.push(branch === 'then' ? [...alts, ...sub(`${ptr}/if`).flatMap((i) => alts.map((a) => [...i, ...a]))] : alts);
      }
    }
    for (const kw of ['dependentSchemas', 'dependencies']) {
      if (!isObject(s[kw]) || !isObject(value)) continue;
      for (const [k, dep] of Object.entries(s[kw]))
        if (k in value && isObject(dep)) factors.push(sub(`${ptr}/${kw}/${pointerToken(k)}`));
    }
    return dedupe(product(factors, (parts) => parts.flat(), MAX_ALTERNATIVES * 4));
  }

  // Alternatives for a set of schemas that all apply.
  expand(ptrs, value) {
    return dedupe(product(ptrs.map((p) => this.expandOne(p, value, new Set())), (parts) => parts.flat(), MAX_ALTERNATIVES * 4));
  }

  // The candidate texts of value under the schemas at ptrs.
  layouts(ptrs, value) {
    if (!isObject(value) && !Array.isArray(value)) return [JSON.stringify(value)];
    const texts = new Set();
    for (const alt of this.expand(ptrs, value)) {
      const got = Array.isArray(value) ? this.arrayTexts(alt, value) : this.objectTexts(alt, value);
      got.forEach((t) => texts.add(t));
      if (texts.size > MAX_TEXTS) throw new Unknown('too many candidate texts');
    }
    return [...texts];
  }

  // The schemas for array position i, and the contains schemas the item satisfies.
  itemPointers(alt, i, item) {
    const ptrs = [];
    const contains = [];
    for (const p of alt) {
      const s = this.oracle.at(p);
      if (Array.isArray(s.prefixItems) && i < s.prefixItems.length) ptrs.push(`${p}/prefixItems/${i}`);
      else if ('items' in s) ptrs.push(`${p}/items`);
      if ('contains' in s && this.oracle.validAt(`${p}/contains`, item)) contains.push(`${p}/contains`);
    }
    return { ptrs, contains };
  }

  arrayTexts(alt, value) {
    const items = value.map((item, i) => {
      const { ptrs, contains } = this.itemPointers(alt, i, item);
      const variants = [[]]; // with and without each contains schema the item satisfies
      for (const c of contains) {
        const n = variants.length;
        for (let k = 0; k < n; k++) variants.push([...variants[k], c]);
      }
      const texts = new Set();
      for (const v of variants) this.layouts([...ptrs, ...v], item).forEach((t) => texts.add(t));
      return [...texts];
    });
    return product(items, (parts) => `[${parts.join(',')}]`, MAX_TEXTS);
  }

  // Declared names in order, for the sources taken in the given order.
  declaredNames(sources) {
    const names = [];
    const add = (k) => { if (!names.includes(k)) names.push(k); };
    for (const p of sources) {
      const s = this.oracle.at(p);
      if (isObject(s.properties)) Object.keys(s.properties).forEach(add);
    }
    for (const p of sources) {
      const s = this.oracle.at(p);
      if (Array.isArray(s.required)) s.required.forEach(add);
    }
    return names;
  }

  memberPointers(alt, key) {
    const ptrs = [];
    for (const p of alt) {
      const s = this.oracle.at(p);
      let matched = false;
      if (isObject(s.properties) && Object.hasOwn(s.properties, key)) {
        ptrs.push(`${p}/properties/${pointerToken(key)}`);
        matched = true;
      }
      if (isObject(s.patternProperties))
        for (const pattern of Object.keys(s.patternProperties))
          if (patternMatches(pattern, key)) {
            ptrs.push(`${p}/patternProperties/${pointerToken(pattern)}`);
            matched = true;
          }
      if (!matched && isObject(s.additionalProperties)) ptrs.push(`${p}/additionalProperties`);
    }
    return ptrs;
  }

  objectTexts(alt, value) {
    const keys = Object.keys(value);
    const orders = new Map();
    // the sources as expanded (the schema, then what it refers to), in document
    // order, and with each schema after the ones inside it (allOf members first)
    const byDocument = [...alt].sort((a, b) => this.order(a) - this.order(b));
    const inside = (a, b) => b !== a && a.startsWith(`${b}/`) || (b === '' && a !== '');
    const innerFirst = [...byDocument].sort((a, b) => (inside(a, b) ? -1 : inside(b, a) ? 1 : this.order(a) - this.order(b)));
    for (const sources of [alt, byDocument, innerFirst]) {
      const names = this.declaredNames(sources);
      if (names.some(integerLike) || keys.some(integerLike)) throw new Unknown('integer-like member names');
      const ordered = [...names.filter((k) => Object.hasOwn(value, k)), ...keys.filter((k) => !names.includes(k))];
      orders.set(ordered.join('\u0000'), ordered);
    }
    const texts = [];
    for (const ordered of orders.values()) {
      const members = ordered.map((k) => this.layouts(this.memberPointers(alt, k), value[k]).map((t) => `${JSON.stringify(k)}:${t}`));
      texts.push(...product(members, (parts) => `{${parts.join(',')}}`, MAX_TEXTS));
    }
    return texts;
  }
}

function patternMatches(pattern, key) {
  let re;
  try {
    re = new RegExp(pattern, 'u');
  } catch {
    throw new Unknown(`patternProperties ${pattern} is not a JavaScript regular expression`);
  }
  return re.test(key);
}

// Every position of a value with the schemas that apply there (all the
// alternatives' together): [{path: [key or index, ...], value, schemas: [...]}].
export function positions(layout, value) {
  const out = [];
  // Unknown below a position only loses the schemas there, not the position
  const tryOr = (fn, fallback) => {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof Unknown)) throw e;
      return fallback;
    }
  };
  const walk = (ptrs, v, path) => {
    const alts = tryOr(() => layout.expand(ptrs, v), []);
    const all = [...new Set(alts.flat())];
    out.push({ path, value: v, schemas: all.map((p) => layout.oracle.at(p)).filter(isObject) });
    if (Array.isArray(v)) v.forEach((item, i) => {
      const got = tryOr(() => alts.flatMap((a) => layout.itemPointers(a, i, item).ptrs), []);
      walk([...new Set(got)], item, [...path, i]);
    });
    else if (isObject(v)) for (const k of Object.keys(v))
      walk([...new Set(tryOr(() => alts.flatMap((a) => layout.memberPointers(a, k)), []))], v[k], [...path, k]);
  };
  walk([''], value, []);
  return out;
}

// Position of each schema pointer in a pre-order walk of the document.
function documentOrder(schema) {
  const index = new Map();
  let n = 0;
  const walk = (node, ptr) => {
    if (node === null || typeof node !== 'object') return;
    index.set(ptr, n++);
    for (const [k, v] of Object.entries(node)) walk(v, `${ptr}/${pointerToken(k)}`);
  };
  walk(schema, '');
  return (ptr) => index.get(ptr) ?? Number.MAX_SAFE_INTEGER;
}

// Candidate texts of a whole document; Unknown when they cannot be told.
export function candidateTexts(oracle, value) {
  return new Layout(oracle).layouts([''], value);
}
