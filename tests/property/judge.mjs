// judge.mjs — documents of one schema, their expected verdicts (ajv's, or a
// rule's), the texts fed to `vkagent grammar --check`, and the comparison.
import { candidateTexts, Unknown } from './canonical.mjs';
import { declaredNames, departureFor, ruleFor } from './departures.mjs';
import { check } from './vkagent.mjs';

// items: [{kind, value} | {kind, text}]. Returns {docs, unknownOrder}; each doc
// is {kind, value, texts, expected, rule}.
export function buildDocs(oracle, items) {
  const declared = declaredNames(oracle.schema);
  const docs = [];
  let unknownOrder = 0;
  const seen = new Set();
  for (const item of items) {
    let value = item.value;
    let texts;
    if (item.text !== undefined) {
      try {
        value = JSON.parse(item.text);
      } catch {
        continue; // not JSON: nothing to compare with
      }
      texts = [item.text];
    } else {
      const ajvValid = oracle.valid(value);
      try {
        texts = candidateTexts(oracle, value);
      } catch (e) {
        if (!(e instanceof Unknown)) throw e;
        if (ajvValid) {
          unknownOrder++;
          continue;
        }
        texts = [];
      }
      // an invalid value must be rejected in any member order: faker's too
      if (!ajvValid) texts = [...new Set([...texts, JSON.stringify(value)])];
    }
    const key = texts.join('\n');
    if (seen.has(key)) continue;
    seen.add(key);
    const ajv = oracle.valid(value);
    const rule = texts.length === 1 ? ruleFor({ text: texts[0], value, declared }) : ruleFor({ text: '', value, declared });
    docs.push({ kind: item.kind, value, texts, ajv, expected: rule ? false : ajv, rule: rule?.name ?? null });
  }
  return { docs, unknownOrder };
}

// Runs the check and compares. Returns {refused} or {crashed} or
// {results: [{doc, accepted, acceptedText, error}], failures: [...], departures: Map, seconds}.
// With `encoded`, each text goes as a JSON string (--check --encoded), so that
// texts with newlines can be checked.
export function judgeSchema(vkagent, schemaFile, schema, docs, { flags = [], encoded = false } = {}) {
  const lines = [];
  const index = new Map();
  for (const d of docs) for (const t of d.texts) if (!index.has(t)) {
    index.set(t, lines.length);
    lines.push(t);
  }
  const r = check(vkagent, schemaFile, encoded ? lines.map((t) => JSON.stringify(t)) : lines, encoded ? [...flags, '--encoded'] : flags);
  if (r.refused !== undefined || r.crashed !== undefined) return r;
  const failures = [];
  const departures = new Map();
  const results = [];
  for (const doc of docs) {
    const verdicts = doc.texts.map((t) => r.verdicts[index.get(t)]);
    const error = verdicts.find((v) => v.startsWith('error'));
    const acceptedAt = verdicts.indexOf('accept');
    const accepted = acceptedAt >= 0;
    const result = { doc, accepted, acceptedText: accepted ? doc.texts[acceptedAt] : null, error };
    results.push(result);
    if (error) {
      failures.push({ what: 'matcher error', schema, doc, detail: error });
      continue;
    }
    if (accepted === doc.expected) continue;
    const what = doc.expected ? 'valid document rejected' : 'UNSOUND: invalid document accepted';
    const departure = departureFor({ schema, doc, ours: accepted, text: result.acceptedText ?? doc.texts[0] });
    if (departure) departures.set(departure.name, (departures.get(departure.name) ?? 0) + 1);
    else failures.push({ what, schema, doc, text: result.acceptedText ?? doc.texts[0] });
  }
  return { results, failures, departures, warnings: r.warnings, seconds: r.seconds };
}

// Texts with raw control characters (flexible whitespace) are shown as JSON strings.
const shown = (t) => (/[\u0000-\u001f]/.test(t) ? `${JSON.stringify(t)} (as a JSON string)` : t);

export function describeFailure(f) {
  const lines = [`FAIL ${f.what} (${f.doc.kind})`, `  schema:   ${JSON.stringify(f.schema)}`];
  if (f.doc.texts.length > 1) lines.push(`  texts:    ${f.doc.texts.map(shown).join('  |  ')}`);
  lines.push(`  document: ${shown(f.text ?? f.doc.texts[0])}`);
  if (f.doc.kind.startsWith('walk')) lines.push(`  why: ${f.detail}`);
  else lines.push(`  ajv: ${f.doc.ajv ? 'valid' : 'invalid'}${f.doc.rule ? `, expected reject by rule ${f.doc.rule}` : ''}; vkagent: ${f.detail ?? (f.doc.expected ? 'reject' : 'accept')}`);
  return lines.join('\n');
}
