-- test_support.lua — examples/agents/support.lua: its retrieval (terms and
-- scores on a hand-made knowledge base, the right entry of the shipped one
-- for English and Chinese questions), language detection, tickets, the
-- Chinese message round-tripping through the Qwen3 tokenizer and chat
-- template, and whole runs on a tiny random-weight qwen3 model with the
-- real Qwen3 vocabulary: every tool call valid, prompts in Qwen3's chat
-- format, the run ending without errors, a ticket whenever it escalates.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local schema = require "vkagent.schema"
local prompt = require "vkagent.prompt"
local json = vkagent.json

local support = dofile(T.source_dir .. "/examples/agents/support.lua")
local model, model_path = T.tiny_qwen3("support")
local ZH = "我想了解关于GPT-4的更多信息。"
local EN = "How do I get a refund for my annual plan?"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local read = T.read_file

T.test("terms: lowercased words, compounds and their parts, stop words out, plurals cut, CJK bigrams", function()
  T.same(support.terms("How do I get a REFUND for my plans?"), { "refund", "plan" })
  T.same(support.terms(ZH), { "我想", "想了", "了解", "解关", "关于", "gpt-4", "gpt", "的更", "更多", "多信", "信息" })
  T.same(support.terms("policies, class, 密 TLS 1.3"), { "policy", "class", "密", "tls", "1.3" })
end)

T.test("search: the documented score on a hand-made knowledge base", function()
  local dir = T.tmpdir("kb")
  write(dir .. "/pets.md", "# Pets\n\nKeywords: animals\n\n## Cats\n\nCats purr. 猫咪很可爱\n\n## Dogs\n\nDogs bark at cats.\n")
  write(dir .. "/README.md", "# not an entry\n\n## Cats and dogs\n\ncats cats cats\n")
  local kb = support.load_kb(dir)
  T.eq(#kb.entries, 2, "README.md is not part of the knowledge base")
  -- N = 2 entries. "cat": in the head of Cats (w 2), the body of Dogs (w 1), df 2 -> idf ln(1 + 2/2)
  local hits = support.search(kb, "cats")
  T.eq(#hits, 2)
  T.eq(hits[1].entry.question, "Cats")
  T.ok(math.abs(hits[1].score - 2 * math.log(2)) < 1e-12, "Cats: 2 ln 2 (tolerance 1e-12), got " .. hits[1].score)
  T.ok(math.abs(hits[2].score - math.log(2)) < 1e-12, "Dogs: ln 2 (tolerance 1e-12), got " .. hits[2].score)
  -- "猫咪": one bigram, only in the body of Cats: df 1 -> ln 3
  hits = support.search(kb, "猫咪")
  T.eq(#hits, 1)
  T.ok(math.abs(hits[1].score - math.log(3)) < 1e-12, "猫咪: ln 3 (tolerance 1e-12), got " .. hits[1].score)
  -- "animals bark": "animal" is a file keyword (head of both, df 2), "bark" only in Dogs' body (df 1)
  hits = support.search(kb, "animals bark")
  T.eq(hits[1].entry.question, "Dogs")
  T.ok(math.abs(hits[1].score - (2 * math.log(2) + math.log(3))) < 1e-12, "Dogs: 2 ln 2 + ln 3 (tolerance 1e-12)")
  T.ok(math.abs(hits[2].score - 2 * math.log(2)) < 1e-12, "Cats: 2 ln 2 (tolerance 1e-12)")
  T.eq(#support.search(kb, "the weather"), 0, "no shared term, no hit")
  T.rmtree(dir)
end)

-- The entry a person picks for each question in the shipped knowledge base.
local expected = {
  { EN, "billing.md", "How do I get a refund?" },
  { ZH, "ai-assistant.md", "What is GPT-4 and how does Lumen Notes use it?" },
  { "我忘记了密码，怎么办？", "account.md", "I forgot my password" },
  { "My notes are not syncing between my phone and laptop", "sync.md", "My notes are not syncing" },
  { "I want to speak to a real person", "contact.md", "How do I reach a human agent?" },
  { "如何导出我的笔记？", "export.md", "How do I export my notes?" },
}

T.test("search: the shipped knowledge base answers each question with the right entry", function()
  local kb = support.load_kb(support.default_kb)
  T.ok(#kb.entries >= 15, "a few topics with several entries each")
  for _, case in ipairs(expected) do
    local hits = support.search(kb, case[1])
    T.ok(#hits > 0, case[1])
    T.eq(hits[1].entry.file, case[2], case[1])
    T.eq(hits[1].entry.question, case[3], case[1])
  end
end)

local function conversation(message, workspace)
  local sent = {}
  local agent, conv = support.new_agent{ model = model, message = message, workspace = workspace,
                                         send = function(text) sent[#sent + 1] = text end }
  local by_name = {}
  for _, t in ipairs(agent.tool_list) do by_name[t.name] = t end
  return agent, conv, by_name, sent
end

T.test("lookup_faq returns the right entry for each question, and falls back to the customer's message", function()
  local ws = T.tmpdir("support-faq")
  for _, case in ipairs(expected) do
    local _, conv, tools = conversation(case[1], ws)
    local text = tools.lookup_faq.run({ query = case[1] })
    T.contains(text, ": " .. case[3] .. "] ", case[1])
    T.eq(conv.lookups[1].query, case[1])
    T.ok(conv.lookups[1].entry:find(case[2], 1, true) == 1, case[1] .. ": " .. conv.lookups[1].entry)
  end
  local _, _, tools = conversation(ZH, ws)
  local text = tools.lookup_faq.run({ query = "xyzzy" })
  T.contains(text, 'Nothing matched "xyzzy". For the customer\'s message: ')
  T.contains(text, "What is GPT-4 and how does Lumen Notes use it?")
  T.rmtree(ws)
end)

T.test("language: the script of the message decides the reply's language in the prompt", function()
  local cases = {
    { ZH, "Han", "Chinese" },
    { EN, "Latin", "English" },
    { "パスワードを忘れました", "Kana", "Japanese" },
    { "비밀번호를 잊어버렸어요", "Hangul", "Korean" },
    { "Здравствуйте, я забыл пароль", "Cyrillic", nil },
    { "Où est ma facture ?", "Latin", nil },
    { "12345 ?!", nil, nil },
  }
  for _, c in ipairs(cases) do
    local lang = support.detect_language(c[1])
    T.eq(lang.script, c[2], c[1])
    T.eq(lang.language, c[3], c[1])
  end
  T.eq(support.language_rule(support.detect_language(ZH)),
    "The customer wrote in Chinese: write every reply in Chinese.")
  T.contains(support.language_rule(support.detect_language("Здравствуйте")), "(it is in Cyrillic script)")
  local agent = conversation(ZH, "/tmp/unused")
  T.contains(prompt.header(agent), "write every reply in Chinese")
  T.contains(prompt.header(agent), ZH)
end)

T.test("escalate writes a ticket into the workspace and returns its id; one ticket per conversation", function()
  local ws = T.tmpdir("support-ticket")
  local _, conv, tools, sent = conversation(ZH, ws)
  tools.lookup_faq.run({ query = "GPT-4" })
  tools.reply.run({ message = "  GPT-4 是 OpenAI 的大型语言模型。 " })
  T.same(sent, { "GPT-4 是 OpenAI 的大型语言模型。" })
  local text = tools.escalate.run({ reason = "wants a demo", priority = "low" })
  T.contains(text, "Ticket T-0001 opened")
  local ticket = json.decode(assert(read(ws .. "/tickets/T-0001.json"), "the ticket file exists"))
  T.eq(ticket.id, "T-0001")
  T.eq(ticket.status, "open")
  T.eq(ticket.priority, "low")
  T.eq(ticket.reason, "wants a demo")
  T.eq(ticket.customer_message, ZH)
  T.eq(ticket.language, "Chinese")
  T.eq(ticket.faq_lookups[1].query, "GPT-4")
  T.eq(ticket.faq_lookups[1].entry, "ai-assistant.md#what-is-gpt-4-and-how-does-lumen-notes-use-it")
  T.eq(ticket.replies_sent[1], "GPT-4 是 OpenAI 的大型语言模型。")
  T.ok(ticket.created:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"), ticket.created)
  T.contains(tools.escalate.run({ reason = "again", priority = "urgent" }), "Ticket T-0001 is already open")
  T.same(conv.tickets, { "T-0001" })
  T.eq(read(ws .. "/tickets/T-0002.json"), nil, "no second ticket")
  -- the next conversation in the same workspace gets the next id
  local _, _, tools2 = conversation(EN, ws)
  T.contains(tools2.escalate.run({ reason = "", priority = "normal" }), "Ticket T-0002 opened")
  T.eq(json.decode(read(ws .. "/tickets/T-0002.json")).reason, "(no reason given)")
  T.raises("the message is empty", tools2.reply.run, { message = "  " })
  T.rmtree(ws)
end)

T.test("the Chinese message round-trips through the Qwen3 tokenizer and chat template", function()
  local ids = model:tokenize(ZH, { bos = false })
  T.eq(model:detokenize(ids), ZH, "tokenize -> detokenize")
  local rendered = model:apply_chat_template({ { role = "system", content = "You are a support agent." },
                                               { role = "user", content = ZH } }, { enable_thinking = false })
  -- Qwen3's ChatML, written out by hand
  T.eq(rendered, "<|im_start|>system\nYou are a support agent.<|im_end|>\n<|im_start|>user\n" .. ZH
    .. "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
  local pids = model:tokenize(rendered, { special = true, bos = false })
  T.eq(model:detokenize(pids, { special = true }), rendered, "rendered -> tokens -> text")
  local im_start = model:tokenize("<|im_start|>", { special = true, bos = false })
  T.eq(#im_start, 1, "<|im_start|> is one special token")
  -- the message's own tokens appear, in one run, inside the prompt's tokens
  local found = false
  for start = 1, #pids - #ids + 1 do
    local same = true
    for k = 1, #ids do
      if pids[start + k - 1] ~= ids[k] then same = false break end
    end
    if same then found = true break end
  end
  T.ok(found, "the message's tokens are a run of the prompt's tokens")
  -- and the assistant's reply in Chinese comes back exactly as well
  local conv = { { role = "user", content = ZH }, { role = "assistant", content = "GPT-4 是一个大型语言模型。" } }
  local text = model:apply_chat_template(conv, { add_generation_prompt = false })
  T.eq(model:detokenize(model:tokenize(text, { special = true, bos = false }), { special = true }), text)
  -- Qwen3's template gives the last assistant turn an (empty) think block
  T.eq(text, "<|im_start|>user\n" .. ZH .. "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    .. "GPT-4 是一个大型语言模型。<|im_end|>\n")
end)

-- Every step checked again here: the reply parses, names a registered
-- tool, its args follow that tool's schema; the prompt is Qwen3's chat
-- format around the agent's header, counted right, and fits with the reply.
local function check_run(agent, r, message, ws)
  local registered = {}
  for _, t in ipairs(agent.tool_list) do registered[t.name] = t end
  local n_ctx = agent.n_ctx
  local head = "<|im_start|>system\n" .. prompt.header(agent) .. "<|im_end|>\n<|im_start|>user\n"
  local tail = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
  T.ok(#r.steps >= 1, "at least one step")
  for _, step in ipairs(r.steps) do
    local where = ("%s, step %d"):format(message, step.n)
    local ok, reply = pcall(json.decode, step.reply)
    T.ok(ok, where .. ": the reply parses: " .. tostring(reply))
    local spec = registered[reply.command.name]
    T.ok(spec ~= nil, where .. ": '" .. tostring(reply.command.name) .. "' is a registered tool")
    local valid, why = schema.validate(reply.command.args, spec.params)
    T.ok(valid, where .. ": args follow the tool's schema: " .. tostring(why))
    T.eq(step.stop_reason, "grammar", where)
    T.eq(step.prompt:sub(1, #head), head, where .. ": system message first")
    T.eq(step.prompt:sub(-#tail), tail, where .. ": the assistant's turn opened, thinking off")
    local _, n_turns = step.prompt:gsub("<|im_start|>", "")
    T.eq(n_turns, 3, where .. ": system, user, assistant")
    T.contains(step.prompt, message, where)
    T.eq(#model:tokenize(step.prompt, { special = true, bos = false }), step.prompt_tokens, where .. ": tokens")
    T.ok(step.prompt_tokens + step.generated_tokens <= n_ctx, where .. ": prompt + reply fit the context")
    local name = reply.command.name
    if name == "lookup_faq" then
      T.ok(step.observation:find("^Nothing") or step.observation:find("%[[^%]]+: [^%]]+%] "), where .. ": "
        .. step.observation)
    elseif name == "escalate" then
      local id = step.observation:match("Ticket (T%-%d+)")
      T.ok(id, where .. ": a ticket id: " .. step.observation)
      T.ok(read(ws .. "/tickets/" .. id .. ".json"), where .. ": the ticket file exists")
    elseif name == "reply" and not step.tool_error then
      T.eq(step.observation, "Sent to the customer. Call finish unless something is left to do.")
    end
  end
end

T.test("runs on the tiny qwen3 model, English and Chinese: valid calls, Qwen3 prompts, tickets, a clean end", function()
  -- Random weights: a high temperature makes the runs try several tools.
  -- Which seed does what depends on every kernel's rounding, so rather than
  -- seeds picked for one build, the runs go on (English and Chinese in turn)
  -- until they have called three different tools: at least 4 runs, at most 16.
  local auto, called, runs = 0, {}, 0
  local function n_called()
    local n = 0
    for _ in pairs(called) do n = n + 1 end
    return n
  end
  for seed = 1, 16 do
    if seed > 4 and n_called() >= 3 then break end
    local message = seed % 2 == 1 and EN or ZH
    runs = runs + 1
    local ws = T.tmpdir("support-run")
    local sent = {}
    local r = support.run{ model = model, message = message, workspace = ws, seed = seed, max_steps = 5,
                           temperature = 2.0, send = function(text) sent[#sent + 1] = text end }
    local where = ("%s (seed %d)"):format(message, seed)
    T.ok(r.status == "done" or r.status == "max_steps" or r.status == "looping", where .. ": " .. r.status .. " "
      .. tostring(r.reason))
    T.ok(#r.steps <= 5, where)
    check_run(r.agent, r, message, ws)
    T.ok(#r.replies >= 1, where .. ": the customer got an answer")
    T.same(sent, r.replies)
    local replied = 0
    for _, step in ipairs(r.steps) do
      called[step.command.name] = true
      if step.command.name == "reply" and not step.tool_error then
        replied = replied + 1
        T.eq(sent[replied], (step.command.args.message:gsub("^%s+", ""):gsub("%s+$", "")), where)
      end
    end
    if r.escalated_automatically then
      auto = auto + 1
      T.eq(replied, 0, where .. ": escalated automatically only without a reply")
      local ticket = json.decode(assert(read(ws .. "/tickets/" .. r.tickets[1] .. ".json")))
      T.eq(ticket.customer_message, message)
      T.contains(sent[#sent], r.tickets[1], where .. ": the holding message names the ticket")
      if message == ZH then T.contains(sent[#sent], "工单号", where .. ": in Chinese") end
    end
    for _, id in ipairs(r.tickets) do T.ok(read(ws .. "/tickets/" .. id .. ".json"), where .. ": " .. id) end
    T.rmtree(ws)
  end
  local names = {}
  for name in pairs(called) do names[#names + 1] = name end
  table.sort(names)
  T.ok(#names >= 3, "the runs called several of the tools: " .. table.concat(names, ", "))
  io.stderr:write(("# tools called: %s; %d of %d runs escalated automatically\n"):format(table.concat(names, ", "),
    auto, runs))
end)

T.test("the script: the message on stdin, replies on stdout, steps on stderr", function()
  local ws = T.tmpdir("support-cli")
  local out_file = ws .. "/out.txt"
  local cmd = ("cd '%s' && printf '%%s\\n' '%s' | '%s/cli/vkagent' agent examples/agents/support.lua --model '%s' "
    .. "--device cpu --workspace '%s' --seed 1 --steps 2 > '%s' 2> '%s/err.txt'; echo $?"):format(T.source_dir, ZH,
    T.build_dir, model_path, ws, out_file, ws)
  local p = io.popen(cmd)
  local rc = p:read("a")
  p:close()
  local err = read(ws .. "/err.txt") or ""
  T.eq(rc, "0\n", "exit status; stderr:\n" .. err)
  T.ok(#(read(out_file) or "") > 0, "a reply on stdout")
  T.contains(err, "language: Chinese (Han script)")
  T.contains(err, "[step 1]")
  T.contains(err, "status: ")
  T.rmtree(ws)
end)

T.done()
