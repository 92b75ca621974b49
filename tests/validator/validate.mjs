// validate.mjs — validates vkagent's constrained generations with ajv, an
// independent JSON Schema implementation. usage: node validate.mjs CASES.json
// Every case's output must parse as JSON and satisfy its schema file.
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';

const [, , casesPath] = process.argv;
const { cases } = JSON.parse(readFileSync(casesPath, 'utf8'));
const ajv = new Ajv2020({ strict: false, allErrors: true });
const validators = new Map();
let failures = 0;
for (const c of cases) {
  if (!validators.has(c.schema)) validators.set(c.schema, ajv.compile(JSON.parse(readFileSync(c.schema, 'utf8'))));
  const validate = validators.get(c.schema);
  let value;
  try {
    value = JSON.parse(c.output);
  } catch (e) {
    console.log(`FAIL ${c.schema} seed ${c.seed}: not JSON (${e.message}): ${c.output}`);
    failures++;
    continue;
  }
  if (!validate(value)) {
    console.log(`FAIL ${c.schema} seed ${c.seed}: ${ajv.errorsText(validate.errors)}: ${c.output}`);
    failures++;
  }
}
const schemas = validators.size;
console.log(`ajv: ${cases.length - failures}/${cases.length} outputs valid over ${schemas} schemas`);
if (cases.length < 250 || schemas < 5) {
  console.log('FAIL: expected at least 5 schemas x 50 seeds');
  process.exit(1);
}
process.exit(failures ? 1 : 0);
