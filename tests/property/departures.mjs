// departures.mjs — where the expected verdict is not simply ajv's, each with
// a name and the reason docs/structured-output.md gives for it.
//
// RULES make the expected verdict stricter than ajv's for documents ajv
// cannot judge (it sees JSON.parse's value, not the text). DEPARTURES are
// disagreements that are allowed: they must be documented converter
// behaviour, stricter than the oracle (a valid document rejected), never
// looser, unless the documentation says the check is not the grammar's.
// Anything not listed here is a failure.

const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);

// Every member name of every object in a JSON text, with repeats: JSON.parse
// keeps the last of repeated names and would hide them.
export function repeatedNames(text) {
  const repeated = [];
  const stack = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') { stack.push(new Set()); expectKey = true; }
    else if (c === '[') { stack.push(null); expectKey = false; }
    else if (c === '}' || c === ']') { stack.pop(); expectKey = false; }
    else if (c === ',') expectKey = stack[stack.length - 1] instanceof Set;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (expectKey) {
        const name = JSON.parse(text.slice(i, j + 1));
        const names = stack[stack.length - 1];
        if (names.has(name)) repeated.push(name);
        names.add(name);
        expectKey = false;
      }
      i = j;
    }
  }
  return repeated;
}

// Numbers in the text that do not fit a double (JSON.parse makes them ±Infinity).
export function hasNonFinite(value) {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (Array.isArray(value)) return value.some(hasNonFinite);
  if (isObject(value)) return Object.values(value).some(hasNonFinite);
  return false;
}

// Names any `properties` of the schema declares, anywhere in it.
export function declaredNames(schema) {
  const names = new Set();
  const walk = (s) => {
    if (Array.isArray(s)) s.forEach(walk);
    else if (isObject(s)) {
      if (isObject(s.properties)) Object.keys(s.properties).forEach((k) => names.add(k));
      Object.entries(s).forEach(([k, v]) => { if (k !== 'enum' && k !== 'const' && k !== 'default' && k !== 'examples') walk(v); });
    }
  };
  walk(schema);
  return names;
}

export const RULES = [
  {
    name: 'repeated-declared-key',
    reason: 'keys of declared properties are never repeated (docs/structured-output.md); JSON.parse would keep the last',
    applies: ({ text, declared }) => repeatedNames(text).some((k) => declared.has(k)),
  },
  {
    name: 'non-finite-number',
    reason: 'every number the grammar admits parses to a finite double (issue 10); ajv sees Infinity as a number',
    applies: ({ value }) => hasNonFinite(value),
  },
];

// { name, reason, applies({schema, text, value, ajv, ours, kind}) } — none yet:
// each one is added with the line of docs/structured-output.md that documents it.
export const DEPARTURES = [];

// The rule a document falls under (its expected verdict is reject), or null.
export function ruleFor(doc) {
  return RULES.find((r) => r.applies(doc)) ?? null;
}

export function departureFor(disagreement) {
  return DEPARTURES.find((d) => d.applies(disagreement)) ?? null;
}
