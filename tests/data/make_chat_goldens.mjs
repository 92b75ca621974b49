// make_chat_goldens.mjs — renders chat_cases.json with @huggingface/jinja from
// each model's own chat_template in ../shared/tokenizers, writing chat_goldens.json.
// Run from tests/data with @huggingface/jinja@0.5.11 installed where node finds it:
//   node make_chat_goldens.mjs /path/to/shared/tokenizers > chat_goldens.json
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const dir = process.argv[2];
const cases = JSON.parse(readFileSync(new URL("./chat_cases.json", import.meta.url))).cases;
const templates = {};
const renders = cases.map((c) => {
  if (!templates[c.template]) {
    const cfg = JSON.parse(readFileSync(`${dir}/${c.template}/tokenizer_config.json`, "utf8"));
    templates[c.template] = { template: new Template(cfg.chat_template), bos: cfg.bos_token ?? "", eos: cfg.eos_token ?? "" };
  }
  const t = templates[c.template];
  const vars = { messages: c.messages, add_generation_prompt: c.add_generation_prompt, bos_token: t.bos, eos_token: t.eos };
  if (c.tools) vars.tools = c.tools;
  if (c.enable_thinking !== undefined) vars.enable_thinking = c.enable_thinking;
  return { name: c.name, template: c.template, bos_token: t.bos, eos_token: t.eos, rendered: t.template.render(vars) };
});
console.log(JSON.stringify({ source: "@huggingface/jinja 0.5.11 rendering each model's own chat_template", renders }, null, 1));
