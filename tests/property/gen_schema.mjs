// gen_schema.mjs — random JSON Schemas over the keywords of issue 10:
// types (and type lists), enum, const with siblings, anyOf, disjoint oneOf,
// allOf, not of type/const/enum, $ref into $defs/definitions (recursion
// included), the object, array, string and number keywords, formats, the
// draft-4/7 spellings, and annotations and x- extensions that must be
// ignored. Each schema comes with the keywords it uses (`uses`), for the
// refusal counts. The schemas are meant to be satisfiable; the few that are
// contradictory on purpose say so (`uses` has 'contradiction').
const NAMES = ['id', 'name', 'count', 'tags', 'kind', 'value', 'meta', 'enabled', 'price', 'when', 'note', 'x', 'y',
  'email', 'host', 'url', 'color', 'size', 'level', 'owner'];
const FORMATS = ['date-time', 'date', 'time', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid', 'uri'];
// ECMA-262 patterns without lookaround or back-references; some unanchored
// (a pattern matches anywhere in the string unless anchored).
const PATTERNS = ['^[a-z]+$', '^[A-Z]{2,3}-[0-9]{1,4}$', '^(foo|bar)+$', '[0-9]', 'abc', '^\\w+@\\w+\\.com$',
  '^[^\\s]{1,10}$', '^(\\+|-)?[0-9]+(\\.[0-9]+)?$', '^.{2,5}$', '^[a-f0-9]{8}$', 'x$', '^(a|b|c)?d*$',
  '^[\\u00e0-\\u00ff]+$', '^\\S+ \\S+$', '^[a-z]*(_[a-z]+)*$'];
const PATTERN_KEYS = ['^x-', '_id$', '^[A-Z][a-z]*$'];
const ANNOTATIONS = {
  title: () => 'A title',
  description: () => 'What this is for.',
  $comment: () => 'a comment',
  default: (r) => r.pick([0, 'x', null, [], {}]), // any value: annotations are not checked
  examples: () => [1, 'two'],
  deprecated: () => false,
  readOnly: () => true,
  writeOnly: () => false,
  example: () => 'custom annotation',
  'x-order': () => 3,
  'x-kubernetes-group-version-kind': () => [{ group: '', kind: 'Pod', version: 'v1' }],
  links: () => [{ rel: 'self', href: '/x' }],
};

const PRIMITIVES = ['string', 'integer', 'number', 'boolean', 'null'];

class Generator {
  constructor(rng, maxDepth) {
    this.r = rng;
    this.maxDepth = maxDepth;
    this.uses = new Set();
    this.defs = {}; // name -> schema, in $defs or definitions
    this.defsKeyword = rng.chance(0.3) ? 'definitions' : '$defs';
  }

  use(...keywords) {
    keywords.forEach((k) => this.uses.add(k));
  }

  annotate(s) {
    if (s === true || !this.r.chance(0.25)) return s;
    for (const k of this.r.sample(Object.keys(ANNOTATIONS), this.r.int(1, 3))) {
      s[k] = ANNOTATIONS[k](this.r);
      this.use(k, k.startsWith('x-') ? 'x-extension' : 'annotation');
    }
    return s;
  }

  // A schema for a value at this depth.
  any(depth) {
    const r = this.r;
    const leaf = depth >= this.maxDepth;
    const kind = r.weighted([
      [leaf ? 0 : 22, 'object'], [leaf ? 0 : 14, 'array'], [14, 'string'], [12, 'number'], [4, 'boolean'],
      [2, 'null'], [6, 'enum'], [4, 'const'], [3, 'typeList'], [leaf ? 0 : 5, 'anyOf'], [leaf ? 0 : 5, 'oneOf'],
      [leaf ? 0 : 4, 'allOf'], [3, 'not'], [leaf ? 0 : 6, 'ref'], [1, 'anything'],
    ]);
    return this.annotate(this[kind](depth));
  }

  anything() {
    return this.r.chance(0.5) ? {} : true;
  }

  boolean() {
    this.use('type');
    return { type: 'boolean' };
  }

  null() {
    this.use('type');
    return { type: 'null' };
  }

  typeList() {
    const types = this.r.sample(PRIMITIVES, this.r.int(2, 3));
    this.use('type', 'type-list');
    const s = { type: types };
    if (types.includes('string') && this.r.chance(0.5)) Object.assign(s, this.stringBounds());
    if (types.includes('integer') && this.r.chance(0.5)) Object.assign(s, this.numberBounds(true));
    return s;
  }

  stringBounds() {
    const r = this.r;
    const s = {};
    if (r.chance(0.6)) {
      s.minLength = r.weighted([[3, 0], [3, 1], [3, r.int(2, 5)]]);
      this.use('minLength');
    }
    if (r.chance(0.6)) {
      s.maxLength = r.weighted([[6, (s.minLength ?? 0) + r.int(0, 6)], [1, r.int(10001, 30000)]]);
      this.use('maxLength');
    }
    return s;
  }

  string() {
    const r = this.r;
    const s = { type: 'string' };
    this.use('type');
    const what = r.weighted([[4, 'plain'], [3, 'bounds'], [3, 'pattern'], [3, 'format']]);
    if (what === 'bounds') Object.assign(s, this.stringBounds());
    if (what === 'pattern') {
      s.pattern = r.pick(PATTERNS);
      this.use('pattern');
      if (r.chance(0.3)) {
        s.maxLength = r.int(3, 12);
        this.use('maxLength');
      }
    }
    if (what === 'format') {
      s.format = r.pick(FORMATS);
      this.use('format', `format:${s.format}`);
    }
    return s;
  }

  // Bounds on the scale the draw picks: small, decimal, or near 2^53.
  numberBounds(integer) {
    const r = this.r;
    const s = {};
    const scale = r.weighted([[5, 'small'], [integer ? 0 : 3, 'decimal'], [2, 'huge']]);
    const point = () => (scale === 'small' ? r.int(-20, 20) : r.int(-80, 80) / 4);
    let [lo, hi] = scale === 'huge' ? r.sample([9007199254740991, -9007199254740991, 4294967296, 9007199254740000], 2) : [point(), point()];
    if (lo > hi) [lo, hi] = [hi, lo];
    if (hi - lo < 2) hi = lo + 2; // room for a value between exclusive bounds
    const legacy = r.chance(0.1);
    if (r.chance(0.7)) {
      if (legacy && r.chance(0.5)) {
        Object.assign(s, { minimum: lo, exclusiveMinimum: true });
        this.use('minimum', 'exclusiveMinimum', 'exclusive-boolean');
      } else if (r.chance(0.7)) {
        s.minimum = lo;
        this.use('minimum');
      } else {
        s.exclusiveMinimum = lo;
        this.use('exclusiveMinimum');
      }
    }
    if (r.chance(0.7)) {
      if (legacy && r.chance(0.5)) {
        Object.assign(s, { maximum: hi, exclusiveMaximum: true });
        this.use('maximum', 'exclusiveMaximum', 'exclusive-boolean');
      } else if (r.chance(0.7)) {
        s.maximum = hi;
        this.use('maximum');
      } else {
        s.exclusiveMaximum = hi;
        this.use('exclusiveMaximum');
      }
    }
    if (r.chance(0.25) && scale !== 'huge') {
      s.multipleOf = integer ? r.pick([2, 3, 5, 10]) : r.pick([0.5, 0.25, 2, 3]);
      this.use('multipleOf');
      const top = s.maximum ?? s.exclusiveMaximum;
      const bottom = s.minimum ?? s.exclusiveMinimum;
      if (typeof top === 'number' && typeof bottom === 'number' && top - bottom < 3 * s.multipleOf) {
        // a multiple strictly inside the bounds
        for (const k of ['maximum', 'exclusiveMaximum']) if (typeof s[k] === 'number') s[k] = bottom + 3 * s.multipleOf;
      }
    }
    return s;
  }

  number() {
    const integer = this.r.chance(0.5);
    this.use('type');
    return { type: integer ? 'integer' : 'number', ...(this.r.chance(0.7) ? this.numberBounds(integer) : {}) };
  }

  scalarValue() {
    const r = this.r;
    return r.weighted([[4, () => r.pick(['red', 'green', 'blue', 'a"quote', 'ünï', 'tab\there', '', 'x'.repeat(r.int(1, 8))])],
      [3, () => r.int(-100, 100)], [1, () => r.int(-100, 100) / 8], [1, () => r.chance(0.5)], [1, () => null]])();
  }

  enum() {
    const r = this.r;
    const values = [...new Set(Array.from({ length: r.int(1, 6) }, () => this.scalarValue()))];
    if (r.chance(0.1)) values.push({ a: 1 }, [1, 2]);
    this.use('enum');
    const s = { enum: values };
    if (r.chance(0.3)) {
      // a sibling type narrows the enum to the values of that type (kept non-empty)
      const t = typeof values[0] === 'string' ? 'string' : typeof values[0] === 'boolean' ? 'boolean'
        : values[0] === null ? 'null' : typeof values[0] === 'number' ? 'number' : null;
      if (t) {
        s.type = t;
        this.use('type', 'enum-siblings');
      }
    }
    return s;
  }

  const() {
    const r = this.r;
    const value = r.weighted([[6, () => this.scalarValue()], [1, () => 'long'.repeat(150)], [1, () => ({ k: [1, 'two', null] })]])();
    this.use('const');
    const s = { const: value };
    if (r.chance(0.4)) {
      this.use('const-siblings');
      if (typeof value === 'number') s.type = Number.isInteger(value) ? 'integer' : 'number';
      else if (typeof value === 'string') s.type = 'string';
      if (r.chance(0.15)) {
        // contradicting siblings: nothing satisfies the schema; refusing it is right
        this.use('contradiction');
        if (typeof value === 'number') s.maximum = value - 1;
        else s.type = typeof value === 'string' ? 'integer' : 'string';
      }
    }
    return s;
  }

  object(depth) {
    const r = this.r;
    const s = { type: 'object' };
    this.use('type');
    const names = r.sample(NAMES, r.int(0, 6));
    if (names.length) {
      s.properties = Object.fromEntries(names.map((n) => [n, this.any(depth + 1)]));
      this.use('properties');
    }
    if (names.length && r.chance(0.6)) {
      s.required = r.sample(names, r.int(1, names.length));
      this.use('required');
    }
    const ap = r.weighted([[4, 'absent'], [2, false], [1, true], [2, 'schema']]);
    if (ap !== 'absent') {
      s.additionalProperties = ap === 'schema' ? this.any(depth + 1) : ap;
      this.use('additionalProperties', `additionalProperties:${ap}`);
    }
    if (ap !== false && r.chance(0.1)) {
      // a required name that no `properties` declares
      (s.required ??= []).push('req_only');
      this.use('required', 'required-undeclared');
    }
    if (r.chance(0.2)) {
      s.patternProperties = Object.fromEntries(r.sample(PATTERN_KEYS, r.int(1, 2)).map((p) => [p, this.any(depth + 1)]));
      this.use('patternProperties');
    }
    if (r.chance(0.2)) {
      s.propertyNames = r.pick([{ pattern: '^[a-z_-]+$' }, { maxLength: 8 }, { enum: [...names, 'req_only', 'extra'] }]);
      this.use('propertyNames', `propertyNames:${Object.keys(s.propertyNames)[0]}`);
    }
    if (r.chance(0.15)) {
      const n = names.length + (ap === false ? 0 : 2);
      const min = r.int(0, Math.min(n, 3));
      if (r.chance(0.7)) {
        s.minProperties = min;
        this.use('minProperties');
      }
      if (r.chance(0.7)) {
        s.maxProperties = Math.max(min, (s.required ?? []).length) + r.int(0, 2);
        this.use('maxProperties');
      }
    }
    if (names.length >= 2 && r.chance(0.3)) {
      const [a, b] = r.sample(names, 2);
      if (r.chance(0.5)) {
        s.dependentRequired = { [a]: [b] };
        this.use('dependentRequired');
      } else {
        s.dependencies = { [a]: r.chance(0.5) ? [b] : { required: [b] } };
        this.use('dependencies');
      }
    }
    return s;
  }

  array(depth) {
    const r = this.r;
    const s = { type: 'array' };
    this.use('type');
    const form = r.weighted([[6, 'items'], [2, 'prefix'], [2, 'legacy'], [1, 'none']]);
    if (form === 'items') {
      s.items = this.any(depth + 1);
      this.use('items');
    } else if (form === 'prefix') {
      s.prefixItems = Array.from({ length: r.int(1, 3) }, () => this.any(depth + 1));
      this.use('prefixItems');
      const rest = r.weighted([[2, 'absent'], [1, false], [1, 'schema']]);
      if (rest !== 'absent') {
        s.items = rest === 'schema' ? this.any(depth + 1) : rest;
        this.use('items');
      }
    } else if (form === 'legacy') {
      s.items = Array.from({ length: r.int(1, 3) }, () => this.any(depth + 1));
      this.use('items-array');
      const rest = r.weighted([[2, 'absent'], [1, false], [1, 'schema']]);
      if (rest !== 'absent') {
        s.additionalItems = rest === 'schema' ? this.any(depth + 1) : rest;
        this.use('additionalItems');
      }
    }
    const closed = s.items === false || (form === 'legacy' && s.additionalItems === false);
    const fixed = (s.prefixItems ?? (form === 'legacy' ? s.items : [])).length;
    if (r.chance(0.4)) {
      const min = closed ? r.int(0, fixed) : r.int(0, 3);
      if (r.chance(0.6)) {
        s.minItems = min;
        this.use('minItems');
      }
      if (r.chance(0.6)) {
        s.maxItems = r.weighted([[8, min + r.int(0, 4)], [1, 100000]]);
        this.use('maxItems');
      }
    }
    if (r.chance(0.3)) {
      const itemType = form === 'items' && s.items && typeof s.items.type === 'string' ? s.items.type : null;
      s.contains = itemType ? { type: itemType } : r.pick([{ type: 'integer' }, { type: 'string' }, { const: 3 }, { type: 'integer', minimum: 10 }]);
      this.use('contains');
      if (r.chance(0.5)) {
        s.minContains = r.int(0, 2);
        this.use('minContains');
      }
      if (r.chance(0.4)) {
        s.maxContains = (s.minContains ?? 1) + r.int(0, 2);
        this.use('maxContains');
      }
      if (s.maxItems !== undefined && s.maxItems < (s.minContains ?? 1)) s.maxItems = s.minContains ?? 1;
    }
    if (r.chance(0.25)) {
      s.uniqueItems = true;
      this.use('uniqueItems');
    }
    return s;
  }

  anyOf(depth) {
    this.use('anyOf');
    return { anyOf: Array.from({ length: this.r.int(2, 3) }, () => this.any(depth + 1)) };
  }

  // Alternatives that no value can satisfy twice: different types, a
  // discriminating const member, or integer ranges that do not meet.
  oneOf(depth) {
    const r = this.r;
    this.use('oneOf');
    const how = r.pick(['types', 'discriminator', 'ranges']);
    if (how === 'types') {
      const types = r.sample(['string', 'integer', 'boolean', 'null', 'object', 'array'], r.int(2, 3));
      return { oneOf: types.map((t) => (t === 'object' ? this.object(depth + 1) : t === 'array' ? this.array(depth + 1)
        : t === 'string' ? this.string() : { type: t })) };
    }
    if (how === 'discriminator') {
      const kinds = r.sample(['circle', 'square', 'line', 'dot'], r.int(2, 3));
      return {
        oneOf: kinds.map((k) => {
          const o = this.object(depth + 1);
          const rest = Object.entries(o.properties ?? {}).filter(([n]) => n !== 'kind');
          o.properties = Object.fromEntries([['kind', { const: k }], ...rest]);
          o.required = ['kind', ...(o.required ?? []).filter((n) => n !== 'kind')];
          delete o.propertyNames;
          delete o.maxProperties;
          return o;
        }),
      };
    }
    const cut = r.int(-5, 5);
    return { oneOf: [{ type: 'integer', maximum: cut }, { type: 'integer', minimum: cut + 1 }] };
  }

  allOf(depth) {
    const r = this.r;
    this.use('allOf');
    const how = r.pick(['object', 'string', 'number', 'mixed']);
    if (how === 'object') {
      const a = this.object(depth + 1);
      const b = this.object(depth + 1);
      delete b.additionalProperties; // two closed objects with different names admit only {}
      delete b.type;
      // names b requires must be allowed by a
      if (a.additionalProperties === false) b.required = (b.required ?? []).filter((n) => a.properties && n in a.properties);
      delete a.maxProperties;
      return { allOf: [a, b] };
    }
    if (how === 'string') return { type: 'string', allOf: [{ minLength: r.int(0, 3) }, { maxLength: r.int(3, 8) }] };
    if (how === 'number') return { allOf: [{ type: 'number' }, { minimum: r.int(-5, 0) }, { maximum: r.int(1, 50) }] };
    return { allOf: [this.any(depth + 1), {}] };
  }

  not() {
    const r = this.r;
    this.use('not');
    return r.pick([
      () => ({ not: { type: r.pick(PRIMITIVES) } }),
      () => ({ type: 'string', not: { const: 'forbidden' } }),
      () => ({ type: 'integer', minimum: 0, maximum: 9, not: { enum: [3, 4, 5] } }),
      () => ({ type: ['string', 'null'], not: { type: 'null' } }),
    ])();
  }

  // A $ref to a definition: a new one, an earlier one, or a recursive tree.
  ref(depth) {
    const r = this.r;
    const kw = this.defsKeyword;
    this.use('$ref', kw);
    const existing = Object.keys(this.defs);
    const finished = existing.filter((n) => this.defs[n] !== null); // not one still being built
    let name;
    if (finished.length && r.chance(0.3)) name = r.pick(finished);
    else if (r.chance(0.3)) {
      name = `tree${existing.length}`;
      this.use('recursion');
      const self = { $ref: `#/${kw}/${name}` };
      this.defs[name] = r.pick([
        { type: 'object', properties: { value: { type: 'integer' }, children: { type: 'array', items: self, maxItems: 3 } }, required: ['value'] },
        { type: 'object', properties: { head: { type: 'string', maxLength: 4 }, tail: { anyOf: [{ type: 'null' }, self] } }, required: ['head', 'tail'], additionalProperties: false },
      ]);
    } else {
      name = `def${existing.length}`;
      this.defs[name] = null; // reserved while it is built (it may refer to earlier ones)
      this.defs[name] = this.any(depth + 1);
    }
    const s = { $ref: `#/${kw}/${name}` };
    if (r.chance(0.2)) {
      s.description = 'beside $ref';
      this.use('annotation');
    }
    return s;
  }
}

// One random schema: { schema, uses: Set of keywords }.
export function generateSchema(rng, { maxDepth = 3 } = {}) {
  const g = new Generator(rng, maxDepth);
  const root = g.any(0);
  const schema = root === true ? {} : root;
  if (Object.keys(g.defs).length) schema[g.defsKeyword] = g.defs;
  return { schema, uses: g.uses };
}
