// vkagent.mjs — `vkagent grammar --check` and `--sample` as the property
// tests call them: one process per schema, documents on stdin.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

// The built vkagent: --vkagent, else $VKAGENT_BUILD_DIR/cli/vkagent, else build/cli/vkagent.
export function findVkagent(arg, sourceDir) {
  const candidates = [arg, process.env.VKAGENT_BUILD_DIR && path.join(process.env.VKAGENT_BUILD_DIR, 'cli', 'vkagent'),
    path.join(sourceDir, 'build', 'cli', 'vkagent')].filter(Boolean);
  return candidates.find((p) => existsSync(p)) ?? null;
}

// The keyword a conversion error names: "JSON schema at #/a/b/KEYWORD: ..." or
// "... keyword 'KEYWORD' ...".
export function refusalKeyword(message) {
  const quoted = /keyword '([^']+)'/.exec(message);
  if (quoted) return quoted[1];
  const at = /JSON schema at #([^:\s]*)/.exec(message);
  if (at) {
    const parts = at[1].split('/').filter(Boolean);
    // the last segment that is not an index or a member name under properties/$defs
    for (let i = parts.length - 1; i >= 0; i--) {
      const parent = parts[i - 1];
      if (/^[0-9]+$/.test(parts[i]) || ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas',
        'dependentRequired', 'dependencies'].includes(parent)) continue;
      return decodeURIComponent(parts[i]).replace(/~1/g, '/').replace(/~0/g, '~');
    }
    return '(root)';
  }
  return '(unknown)';
}

// Checks texts (one line each, no raw newline) under the schema in schemaFile.
// Returns {refused: message} when the conversion fails, else {verdicts: [...]}
// with 'accept', 'reject' or 'error: ...' per text, and {seconds}.
export function check(vkagent, schemaFile, texts, flags = []) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(vkagent, ['grammar', '--json-schema', schemaFile, '--check', ...flags], {
    input: texts.length ? `${texts.join('\n')}\n` : '',
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: 120000,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const lines = r.stdout ? r.stdout.split('\n').filter((l, i, all) => i < all.length - 1 || l !== '') : [];
  // a refused schema ends the process before it reads its stdin: EPIPE is not a failure then
  if (r.error && r.error.code !== 'EPIPE') return { crashed: `${r.error.message}`, seconds };
  if (r.status === 1 && !lines.length) {
    const message = (r.stderr || '').trim().split('\n').filter((l) => !/: warning: /.test(l)).join(' ') || `exit ${r.status}`;
    if (/converting the JSON schema/.test(message)) return { refused: message.replace(/^vkagent grammar: converting the JSON schema: /, ''), seconds };
  }
  if (r.signal || (r.status !== 0 && r.status !== 1) || lines.length !== texts.length)
    return { crashed: `exit ${r.status ?? r.signal}, ${lines.length} verdicts for ${texts.length} documents: ${(r.stderr || '').slice(0, 500)}`, seconds };
  return { verdicts: lines, warnings: (r.stderr || '').split('\n').filter((l) => /: warning: /.test(l)), seconds };
}

// N random walks: {docs: [text...], capped, stderr} or {crashed}.
export function sample(vkagent, schemaFile, n, seed, vocab, flags = []) {
  const args = ['grammar', '--json-schema', schemaFile, '--sample', String(n), '--seed', String(seed), ...flags];
  if (vocab) args.push('--vocab', vocab);
  const r = spawnSync(vkagent, args, { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120000 });
  if (r.error || r.status !== 0) return { crashed: `exit ${r.status ?? r.signal ?? r.error}: ${(r.stderr || '').slice(0, 800)}` };
  const docs = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  const capped = (r.stderr.match(/without completing a document/g) || []).length;
  return { docs, capped, stderr: r.stderr };
}
