// compare.mjs — every chat template in tests/data/templates rendered with
// every conversation in tests/data/templates/conversations, by
// @huggingface/jinja (the reference, from tests/validator's node_modules)
// and by vkagent: the texts must be byte-identical, and a template that
// raises for a conversation must fail in both. Every case goes through
// jinja_probe (vka_chat_template_render, one process for all); every sixth
// template also through `vkagent template --chat-template` (a process each).
// usage: node compare.mjs JINJA_PROBE VKAGENT TEMPLATES_DIR [NAME_FILTER]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const jinjaPath = path.join(here, "..", "validator", "node_modules", "@huggingface", "jinja", "dist", "index.js");
let Template;
try {
  ({ Template } = await import(pathToFileURL(jinjaPath).href));
} catch {
  console.log("SKIP: @huggingface/jinja is not installed (npm ci in tests/validator)");
  process.exit(77);
}

const [probe, vkagent, templatesDir, filter = ""] = process.argv.slice(2);
const convDir = path.join(templatesDir, "conversations");
const templates = readdirSync(templatesDir).filter((f) => f.endsWith(".jinja") && f.includes(filter)).sort();
const conversations = readdirSync(convDir).filter((f) => f.endsWith(".json")).sort();
const tmp = mkdtempSync(path.join(tmpdir(), "vka-jinja-"));

function reference(text, conv) {
  const context = { messages: conv.messages, tools: conv.tools ?? null,
                    add_generation_prompt: conv.add_generation_prompt ?? true, ...(conv.variables ?? {}) };
  try {
    return { ok: true, text: new Template(text).render(context) };
  } catch (err) {
    return { ok: false, error: String(err?.message ?? err) };
  }
}

function ours(templatePath, conv, name) {
  const msgs = path.join(tmp, `${name}.messages.json`);
  writeFileSync(msgs, JSON.stringify(conv.messages));
  const args = ["template", "--chat-template", templatePath, "--messages", msgs];
  if (conv.tools) {
    const tools = path.join(tmp, `${name}.tools.json`);
    writeFileSync(tools, JSON.stringify(conv.tools));
    args.push("--tools", tools);
  }
  if (conv.add_generation_prompt === false) args.push("--no-generation-prompt");
  for (const [k, v] of Object.entries(conv.variables ?? {})) args.push("--var", `${k}=${JSON.stringify(v)}`);
  const r = spawnSync(vkagent, args, { encoding: "buffer" });
  return { ok: r.status === 0, text: r.stdout.toString("utf8"), error: r.stderr.toString("utf8").trim() };
}

// All cases through the probe at once.
function probeAll(cases) {
  const input = cases.map(({ templatePath, conv }) => JSON.stringify({ template: templatePath, ...conv }) + "\n").join("");
  const r = spawnSync(probe, [], { input, encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`jinja_probe failed: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

let passed = 0, failed = 0;
const convs = conversations.map((f) => [f, JSON.parse(readFileSync(path.join(convDir, f), "utf8"))]);
const cases = [];
templates.forEach((t, ti) => {
  const templatePath = path.join(templatesDir, t);
  convs.forEach(([c, conv], ci) => cases.push({ t, c, ti, ci, templatePath, conv }));
});
const probed = probeAll(cases);
for (const [k, { t, c, ti, ci, templatePath, conv }] of cases.entries()) {
  const text = readFileSync(templatePath, "utf8");
  const want = reference(text, conv);
  const viaCli = ti % 6 === 0 && ci === (ti / 6) % convs.length;
  const runs = [["jinja_probe", probed[k]]];
  if (viaCli) runs.push(["vkagent template", ours(templatePath, conv, c)]);
  for (const [who, got] of runs) {
    const name = `${t} × ${c} (${who})`;
    if (want.ok !== got.ok) {
      failed++;
      console.log(`FAIL ${name}: reference ${want.ok ? "rendered" : "raised: " + want.error}; ours ${got.ok ? "rendered" : "failed: " + got.error}`);
    } else if (want.ok && want.text !== got.text) {
      failed++;
      let i = 0;
      while (i < want.text.length && want.text[i] === got.text[i]) i++;
      console.log(`FAIL ${name}: texts differ at ${i}:\n  reference ${JSON.stringify(want.text.slice(Math.max(0, i - 40), i + 60))}\n  ours      ${JSON.stringify(got.text.slice(Math.max(0, i - 40), i + 60))}`);
    } else {
      passed++;
    }
  }
}
rmSync(tmp, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
