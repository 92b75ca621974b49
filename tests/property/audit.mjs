// audit.mjs — the cases of issue 10's audit as fixed schemas with fixed
// documents (texts, fed as they are). Each document is judged like the
// random ones: ajv's verdict, or a rule's (departures.mjs). `convert: true`
// means refusing the schema is itself a failure; otherwise refusing it (an
// empty intersection, an overlapping oneOf) is a correct answer.
const letters = 'abcdefghijklmnopqrstuvwxyz';

export const AUDIT = [
  {
    name: 'six optional parameters',
    convert: true,
    schema: {
      type: 'object',
      properties: Object.fromEntries(['city', 'days', 'units', 'detail', 'lang', 'alerts'].map((k, i) =>
        [k, [{ type: 'string' }, { type: 'integer', minimum: 1, maximum: 14 }, { enum: ['metric', 'imperial'] },
          { type: 'boolean' }, { type: 'string', maxLength: 5 }, { type: 'array', items: { type: 'string' } }][i]])),
    },
    docs: ['{}', '{"city":"Oslo"}', '{"alerts":[]}', '{"city":"Oslo","days":3,"units":"metric","detail":true,"lang":"no","alerts":["x"]}',
      '{"days":15}', '{"units":"kelvin"}', '{"city":"Oslo","days":0}', '{"lang":"toolong"}'],
  },
  {
    name: 'enum of 50 values',
    convert: true,
    schema: { enum: Array.from({ length: 50 }, (_, i) => `value-${i}`) },
    docs: ['"value-0"', '"value-49"', '"value-50"', '"value-"', '"value-1 "'],
  },
  {
    name: '600-character const',
    convert: true,
    schema: { const: 'c'.repeat(600) },
    docs: [JSON.stringify('c'.repeat(600)), JSON.stringify('c'.repeat(599)), JSON.stringify('c'.repeat(601))],
  },
  {
    name: '15 required properties',
    convert: true,
    schema: {
      type: 'object',
      properties: Object.fromEntries([...letters.slice(0, 15)].map((k) => [k, { type: 'integer' }])),
      required: [...letters.slice(0, 15)],
    },
    docs: [
      JSON.stringify(Object.fromEntries([...letters.slice(0, 15)].map((k, i) => [k, i]))),
      JSON.stringify(Object.fromEntries([...letters.slice(0, 14)].map((k, i) => [k, i]))),
      JSON.stringify(Object.fromEntries([...letters.slice(0, 15)].map((k, i) => [k, i === 7 ? 'h' : i]))),
    ],
  },
  {
    name: 'integer range up to 2^53-1',
    convert: true,
    schema: { type: 'integer', minimum: 0, maximum: 9007199254740991 },
    docs: ['0', '9007199254740991', '9007199254740992', '-1', '4503599627370496', '9007199254740990', '10000000000000000'],
  },
  {
    name: 'declared property as an extra member',
    convert: true,
    schema: { type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: true },
    docs: ['{"a":"hello"}', '{"a":1}', '{"a":1,"b":"hello"}', '{"b":1}'],
  },
  {
    name: 'declared property as an extra member (additionalProperties schema)',
    convert: true,
    schema: { type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: { type: 'string' } },
    docs: ['{"a":"hello"}', '{"a":1,"b":"x"}', '{"b":1}'],
  },
  {
    name: 'repeated keys',
    convert: true,
    schema: { type: 'object', properties: { a: { type: 'integer', maximum: 10 } } },
    docs: ['{"a":1,"a":99}', '{"a":1,"a":2}', '{"a":1}'],
  },
  {
    name: 'const with a contradicting maximum',
    convert: false,
    schema: { const: 5, type: 'integer', maximum: 3 },
    docs: ['5', '3'],
  },
  {
    name: 'const null with type string',
    convert: false,
    schema: { const: null, type: 'string' },
    docs: ['null', '""'],
  },
  {
    name: 'enum with a contradicting sibling',
    convert: true,
    schema: { enum: [1, 'one', null], type: 'string' },
    docs: ['"one"', '1', 'null'],
  },
  {
    name: 'overlapping oneOf',
    convert: false,
    schema: { oneOf: [{ type: 'integer' }, { type: 'number', minimum: 0 }] },
    docs: ['5', '-1', '0.5', '-0.5'],
  },
  {
    name: 'surrogate-pair escape counts as one character',
    convert: true,
    schema: { type: 'string', minLength: 2, maxLength: 3 },
    docs: ['"\\ud83d\\ude00"', '"\\ud83d\\ude00\\ud83d\\ude00"', '"\u{1F600}"', '"\u{1F600}\u{1F600}"',
      '"\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00"', '"a\\ud83d\\ude00"', '"\\ud83d"'],
  },
  {
    name: 'numbers that overflow a double',
    convert: true,
    schema: { type: 'number' },
    docs: ['1e999', '-1e999', '1E400', '1e308', '1.7976931348623157e308', '2e308', '0.5e-400'],
  },
  {
    name: 'integer that overflows a double',
    convert: true,
    schema: { type: 'integer' },
    docs: ['1' + '0'.repeat(400), '-1' + '0'.repeat(400), '12'],
  },
];
