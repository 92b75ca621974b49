// oracle.mjs — the independent side of the structured-output property tests:
// ajv 8 in draft 2020-12 mode with ajv-formats (default options, strict off),
// json-schema-faker, both from tests/validator/node_modules, and the reading
// of draft-4/6/7 spellings as the standard defines them.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

const validatorDir = new URL('../validator/', import.meta.url);
const require = createRequire(new URL('package.json', validatorDir));

// Missing modules are a setup problem: say how to fix it (the caller exits).
export function depsMissing() {
  for (const m of ['ajv/package.json', 'ajv-formats/package.json', 'json-schema-faker/package.json'])
    if (!existsSync(new URL(`node_modules/${m}`, validatorDir))) return m.split('/package.json')[0];
  return null;
}

export async function loadFaker() {
  return import(new URL('node_modules/json-schema-faker/dist/index.js', validatorDir).href);
}

export function makeAjv() {
  const Ajv2020 = require('ajv/dist/2020').default;
  const addFormats = require('ajv-formats').default ?? require('ajv-formats');
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  return ajv;
}

const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);

// Keywords whose value is a schema, an array of schemas, or an object of schemas.
const SCHEMA_KEYWORDS = ['not', 'if', 'then', 'else', 'contains', 'propertyNames', 'additionalProperties',
  'additionalItems', 'items', 'unevaluatedItems', 'unevaluatedProperties'];
const SCHEMA_ARRAY_KEYWORDS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SCHEMA_MAP_KEYWORDS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];

// Calls fn(schema) on every schema object of the document (keywords only, never
// inside enum/const/examples values), parents before children.
export function forEachSchema(schema, fn) {
  if (!isObject(schema)) return;
  fn(schema);
  for (const k of SCHEMA_KEYWORDS) if (k in schema) {
    const v = schema[k];
    if (Array.isArray(v)) v.forEach((s) => forEachSchema(s, fn));
    else forEachSchema(v, fn);
  }
  for (const k of SCHEMA_ARRAY_KEYWORDS) if (Array.isArray(schema[k])) schema[k].forEach((s) => forEachSchema(s, fn));
  for (const k of SCHEMA_MAP_KEYWORDS) if (isObject(schema[k])) Object.values(schema[k]).forEach((s) => forEachSchema(s, fn));
  if (isObject(schema.dependencies))
    Object.values(schema.dependencies).forEach((s) => { if (isObject(s)) forEachSchema(s, fn); });
}

// The draft 2020-12 reading of the older spellings the converter also takes:
// boolean exclusiveMinimum/exclusiveMaximum (draft 4), items as an array
// with additionalItems (drafts 4-7), draft 4's id (an annotation).
// dependencies and definitions ajv reads itself. $schema is dropped: every
// schema is read as 2020-12. Returns a copy.
export function normalizeLegacy(schema) {
  const copy = structuredClone(schema);
  if (isObject(copy)) delete copy.$schema;
  forEachSchema(copy, (s) => {
    for (const [bound, ex] of [['minimum', 'exclusiveMinimum'], ['maximum', 'exclusiveMaximum']]) {
      if (typeof s[ex] !== 'boolean') continue;
      if (s[ex] && typeof s[bound] === 'number') {
        s[ex] = s[bound];
        delete s[bound];
      } else delete s[ex];
    }
    if (Array.isArray(s.items)) {
      s.prefixItems = s.items;
      delete s.items;
      if ('additionalItems' in s) s.items = s.additionalItems;
    }
    delete s.additionalItems; // ignored beside a single items schema, as in draft 7
    // draft 4's id is an annotation here (issue 10); ajv refuses the keyword outright
    if (typeof s.id === 'string') delete s.id;
  });
  return copy;
}

// an http base, so that relative $ids ("/definitions/x") resolve against it
const ROOT_KEY = 'https://vkagent.invalid/property-root';
let rootCounter = 0;

// JSON pointer token, escaped for a URI fragment.
export const pointerToken = (name) => encodeURIComponent(String(name).replace(/~/g, '~0').replace(/\//g, '~1'));

// The value at a JSON pointer ('' is the root) of the normalized schema.
export function atPointer(root, pointer) {
  let node = root;
  if (pointer === '') return node;
  for (const raw of pointer.slice(1).split('/')) {
    const token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(token in node)) return undefined;
    node = node[token];
  }
  return node;
}

// One schema, compiled by ajv: the whole document, and any of its subschemas
// (by JSON pointer) in the document's context, so that $ref resolves.
export class Oracle {
  constructor(ajv, schema) {
    this.ajv = ajv;
    this.original = schema;
    this.schema = normalizeLegacy(schema);
    this.key = `${ROOT_KEY}-${++rootCounter}.json`;
    ajv.addSchema(this.schema, this.key);
    this.whole = ajv.getSchema(this.key);
    this.subs = new Map();
  }

  valid(value) {
    return this.whole(value);
  }

  // Whether value satisfies the subschema at pointer (in the normalized schema).
  validAt(pointer, value) {
    if (pointer === '') return this.whole(value);
    let v = this.subs.get(pointer);
    if (!v) {
      v = this.ajv.getSchema(`${this.key}#${pointer}`);
      if (!v) throw new Error(`no subschema at #${pointer}`);
      this.subs.set(pointer, v);
    }
    return v(value);
  }

  at(pointer) {
    return atPointer(this.schema, pointer);
  }

  dispose() {
    this.ajv.removeSchema(this.key);
  }
}
