-- support.lua — a customer-service agent for "Lumen Notes" (a fictional
-- note-taking app): it looks the customer's question up in a Markdown
-- knowledge base (support_kb/), answers with `reply` in the customer's
-- language, escalates to a human with a ticket when the knowledge base has
-- no answer, and ends with `finish`. Prompts are in the model's chat template.
--
-- Run it with a real instruct model (vkagent never downloads anything):
--
--   curl -L -o models/qwen2.5-1.5b-instruct-q4_k_m.gguf \
--     https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf
--   build/cli/vkagent agent examples/agents/support.lua \
--     --model models/qwen2.5-1.5b-instruct-q4_k_m.gguf "How do I get a refund for my annual plan?"
--   echo "我想了解关于GPT-4的更多信息。" | build/cli/vkagent agent examples/agents/support.lua \
--     --model models/qwen2.5-1.5b-instruct-q4_k_m.gguf
--
-- Replies to the customer go to stdout; the agent's steps (thoughts, tool
-- calls, observations) go to stderr. Tickets are written as JSON into
-- WORKSPACE/tickets/. See docs/examples.md for other models and options.
--
-- Retrieval (lookup_faq): every "## " section of a knowledge-base file is an
-- entry. Text becomes terms like this: ASCII is lowercased; a run of letters
-- and digits is a word (with '-' and '.' kept between two of them, so
-- "GPT-4" is the term "gpt-4" plus its part "gpt"); English stop words and
-- one-letter words are dropped; a plural "s"/"ies" is cut; a run of Chinese,
-- Japanese or Korean characters gives its overlapping character bigrams
-- ("更多信息" -> 更多, 多信, 信息), or the character itself when it stands
-- alone. An entry scores
--     score(e) = sum over the distinct query terms t of  w(t, e) * ln(1 + N / df(t))
-- where w is 2 when t is in the entry's head (file title, keywords, its
-- heading and its own keywords), 1 when it is only in its answer, else 0; N
-- is the number of entries and df(t) the number that contain t. Ties keep
-- the knowledge base's order (file name, then section).
--
-- As a module (the tests): `local support = dofile("examples/agents/support.lua")`
-- returns the functions below without running anything.
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local cli = require "vkagent.cli"
local json = vkagent.json

local M = {}

local this_file = debug.getinfo(1, "S").source:match("^@(.*)$") or "examples/agents/support.lua"
M.default_kb = (this_file:match("^(.*)/[^/]*$") or ".") .. "/support_kb"

-- ------------------------------------------------------------- text terms

local stop_words = {}
for w in ([[a an and are as at be been but by can could did do does doing for from get got had has have hello
  hi how i i'm if in into is it its just me my no not of on or our please so than that the their them then there
  these they this to too us was we were what when where which who why will with would you your i've don't can't
  im ive dont cant hey thanks thank]]):gmatch("%S+") do
  stop_words[w] = true
end

local function is_cjk(c)
  return (c >= 0x4E00 and c <= 0x9FFF) or (c >= 0x3400 and c <= 0x4DBF) or (c >= 0xF900 and c <= 0xFAFF)
    or (c >= 0x3040 and c <= 0x30FF) or (c >= 0x31F0 and c <= 0x31FF)      -- kana
    or (c >= 0xAC00 and c <= 0xD7AF) or (c >= 0x20000 and c <= 0x2FFFF)    -- Hangul syllables, Han extensions
end

local function is_word_char(c)
  return (c >= 0x30 and c <= 0x39) or (c >= 0x41 and c <= 0x5A) or (c >= 0x61 and c <= 0x7A)
    or (c >= 0xC0 and c <= 0x24F and c ~= 0xD7 and c ~= 0xF7)              -- Latin with accents
    or (c >= 0x370 and c <= 0x4FF)                                          -- Greek, Cyrillic
end

local function stem(word)
  if not word:match("^[%l%d%-%.]+$") then return word end
  if #word > 4 and word:sub(-3) == "ies" then return word:sub(1, -4) .. "y" end
  if #word > 3 and word:sub(-1) == "s" and not word:match("[sui]s$") then return word:sub(1, -2) end
  return word
end

local function add_word(out, word)
  word = stem(word:lower())
  if (utf8.len(word) or #word) >= 2 and not stop_words[word] then out[#out + 1] = word end
end

--- The search terms of `text` (see the top of the file), in order, repeats kept.
function M.terms(text)
  local out = {}
  local cps = {}
  for _, c in utf8.codes(text) do cps[#cps + 1] = c end
  local i, n = 1, #cps
  while i <= n do
    local c = cps[i]
    if is_cjk(c) then
      local j = i
      while j + 1 <= n and is_cjk(cps[j + 1]) do j = j + 1 end
      if j == i then out[#out + 1] = utf8.char(c) end
      for k = i, j - 1 do out[#out + 1] = utf8.char(cps[k], cps[k + 1]) end
      i = j + 1
    elseif is_word_char(c) then
      -- a word: word characters, with '-' or '.' kept between two of them
      local j = i
      while j + 1 <= n and (is_word_char(cps[j + 1]) or ((cps[j + 1] == 0x2D or cps[j + 1] == 0x2E)
        and j + 2 <= n and is_word_char(cps[j + 2]) and not is_cjk(cps[j + 2]))) do
        j = j + 1
      end
      local word = utf8.char(table.unpack(cps, i, j))
      add_word(out, word)
      if word:find("[%-%.]") then
        for part in word:gmatch("[^%-%.]+") do add_word(out, part) end
      end
      i = j + 1
    else
      i = i + 1
    end
  end
  return out
end

local function term_set(text, into)
  into = into or {}
  for _, t in ipairs(M.terms(text)) do into[t] = true end
  return into
end

-- ---------------------------------------------------------- knowledge base

-- The entries of one Markdown file: {topic, question, answer, head, body}.
local function parse_kb_file(name, text)
  local topic = text:match("^#%s+([^\n]+)") or name
  local file_keywords = ""
  local entries, current = {}, nil
  local in_preamble = true
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local heading = line:match("^##%s+(.-)%s*$")
    local keywords = line:match("^[Kk]eywords:%s*(.*)$")
    if heading then
      in_preamble = false
      current = { file = name, topic = topic, question = heading, keywords = "", lines = {} }
      entries[#entries + 1] = current
    elseif keywords and in_preamble then
      file_keywords = file_keywords .. " " .. keywords
    elseif keywords and current and #current.lines == 0 then
      current.keywords = current.keywords .. " " .. keywords
    elseif current and not (line == "" and #current.lines == 0) then
      current.lines[#current.lines + 1] = line
    end
  end
  for i, e in ipairs(entries) do
    e.answer = table.concat(e.lines, "\n"):gsub("%s+$", "")
    e.lines = nil
    local slug = e.question:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
    e.id = name .. "#" .. (slug ~= "" and slug or tostring(i))
    e.head = term_set(topic .. " " .. file_keywords .. " " .. e.question .. " " .. e.keywords)
    e.body = term_set(e.answer)
  end
  return entries
end

--- Loads the knowledge base in `dir` (every *.md but README.md, by name):
-- {dir, entries = {{id, file, topic, question, answer, head, body}}, df}.
function M.load_kb(dir)
  local names, err = vkagent.fs.list(dir)
  if not names then error(("support: cannot read the knowledge base '%s': %s"):format(dir, tostring(err)), 0) end
  local kb = { dir = dir, entries = {}, df = {} }
  for _, name in ipairs(names) do
    if name:match("%.md$") and name ~= "README.md" then
      local f = assert(io.open(dir .. "/" .. name, "rb"))
      local text = f:read("a")
      f:close()
      if not utf8.len(text) then error(("support: %s/%s is not valid UTF-8"):format(dir, name), 0) end
      for _, e in ipairs(parse_kb_file(name, text)) do kb.entries[#kb.entries + 1] = e end
    end
  end
  if #kb.entries == 0 then error(("support: no entries ('## ' sections of *.md files) in '%s'"):format(dir), 0) end
  for _, e in ipairs(kb.entries) do
    local seen = {}
    for t in pairs(e.head) do seen[t] = true end
    for t in pairs(e.body) do seen[t] = true end
    for t in pairs(seen) do kb.df[t] = (kb.df[t] or 0) + 1 end
  end
  return kb
end

--- The entries that share a term with `query`, best first:
-- {{entry = e, score = s}, ...} (at most `limit`, default all).
function M.search(kb, query, limit)
  local q = term_set(query)
  local n = #kb.entries
  local hits = {}
  for i, e in ipairs(kb.entries) do
    local score = 0
    for t in pairs(q) do
      local w = e.head[t] and 2 or (e.body[t] and 1 or 0)
      if w > 0 then score = score + w * math.log(1 + n / kb.df[t]) end
    end
    if score > 0 then hits[#hits + 1] = { entry = e, score = score, order = i } end
  end
  table.sort(hits, function(a, b)
    if a.score ~= b.score then return a.score > b.score end
    return a.order < b.order
  end)
  for i = (limit or #hits) + 1, #hits do hits[i] = nil end
  return hits
end

-- --------------------------------------------------------------- language

local scripts = {
  { "Han", { 0x4E00, 0x9FFF }, { 0x3400, 0x4DBF }, { 0xF900, 0xFAFF }, { 0x20000, 0x2FFFF } },
  { "Kana", { 0x3040, 0x30FF }, { 0x31F0, 0x31FF } },
  { "Hangul", { 0xAC00, 0xD7AF }, { 0x1100, 0x11FF }, { 0x3130, 0x318F } },
  { "Latin", { 0x41, 0x5A }, { 0x61, 0x7A }, { 0xC0, 0xD6 }, { 0xD8, 0xF6 }, { 0xF8, 0x24F } },
  { "Greek", { 0x370, 0x3FF } },
  { "Cyrillic", { 0x400, 0x4FF } },
  { "Hebrew", { 0x5D0, 0x5EA } },
  { "Arabic", { 0x600, 0x6FF } },
  { "Devanagari", { 0x900, 0x97F } },
  { "Thai", { 0xE00, 0xE7F } },
}
local script_language = { Han = "Chinese", Kana = "Japanese", Hangul = "Korean", Greek = "Greek", Hebrew = "Hebrew",
                          Thai = "Thai" }
local english_words = {}
for w in ("the a an i you my your is are do does how what why can could would to for of and with not it this that "
  .. "please want need have has"):gmatch("%S+") do
  english_words[w] = true
end

--- The script the customer wrote in, and the language when the script
-- tells it: {script = "Han", language = "Chinese"}; Han with any kana is
-- Japanese; Latin is English only when it is plain ASCII with English
-- function words. language is nil when it cannot be told; script is nil
-- for a text without letters.
function M.detect_language(text)
  local counts = {}
  for _, c in utf8.codes(text) do
    for _, s in ipairs(scripts) do
      for k = 2, #s do
        if c >= s[k][1] and c <= s[k][2] then counts[s[1]] = (counts[s[1]] or 0) + 1 end
      end
    end
  end
  if (counts.Kana or 0) > 0 then counts.Kana = counts.Kana + (counts.Han or 0); counts.Han = nil end
  local best, best_n = nil, 0
  for _, s in ipairs(scripts) do
    local n = counts[s[1]] or 0
    if n > best_n then best, best_n = s[1], n end
  end
  local language = best and script_language[best]
  if best == "Latin" and not text:find("[\128-\255]") then
    for w in text:lower():gmatch("[%a']+") do
      if english_words[w] then language = "English" break end
    end
  end
  return { script = best, language = language }
end

--- The prompt's rule for the reply's language.
function M.language_rule(lang)
  if lang.language then
    return ("The customer wrote in %s: write every reply in %s."):format(lang.language, lang.language)
  elseif lang.script then
    return ("Write every reply in the language of the customer's message (it is in %s script)."):format(lang.script)
  end
  return "Write every reply in the language of the customer's message."
end

-- ------------------------------------------------------------------ tools

-- An entry as an observation: its lines joined back into paragraphs (list
-- items keep their own line), which reads the same in fewer tokens.
local function entry_text(e)
  local answer = e.answer:gsub("\n([^\n%-])", " %1")
  return ("[%s: %s] %s"):format(e.topic, e.question, answer)
end

-- The next free ticket id in dir: T-0001, T-0002, ...
local function next_ticket_id(dir)
  local last = 0
  for _, name in ipairs(vkagent.fs.list(dir) or {}) do
    local n = tonumber(name:match("^T%-(%d+)%.json$"))
    if n and n > last then last = n end
  end
  return ("T-%04d"):format(last + 1)
end

-- mkdir -p
local function make_dirs(path)
  local so_far = path:sub(1, 1) == "/" and "" or "."
  for part in path:gmatch("[^/]+") do
    so_far = so_far .. "/" .. part
    local ok, err = vkagent.fs.mkdir(so_far)
    if not ok then error(("support: cannot make the directory %s: %s"):format(so_far, tostring(err)), 0) end
  end
end

--- Writes a ticket for a human agent into WORKSPACE/tickets/ID.json and
-- returns its id and path.
function M.write_ticket(conv, reason, priority)
  local dir = conv.workspace .. "/tickets"
  make_dirs(dir)
  local id = next_ticket_id(dir)
  local ticket = json.object({
    id = id,
    created = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    status = "open",
    priority = priority or "normal",
    reason = reason,
    customer_message = conv.message,
    language = conv.language.language or json.null,
    script = conv.language.script or json.null,
    faq_lookups = json.array(conv.lookups),
    replies_sent = json.array(conv.replies),
  }, { "id", "created", "status", "priority", "reason", "customer_message", "language", "script" })
  local path = dir .. "/" .. id .. ".json"
  local f = assert(io.open(path, "wb"))
  f:write(json.encode(ticket, { indent = true }), "\n")
  f:close()
  conv.tickets[#conv.tickets + 1] = id
  return id, path
end

--- The agent's tools for one conversation: lookup_faq{query},
-- escalate{reason, priority} and reply{message}.
function M.tools(conv)
  local lookup = {
    name = "lookup_faq",
    description = "Search the knowledge base; returns the best matching entry.",
    params = { type = "object", properties = { query = { type = "string" } }, required = { "query" } },
    run = function(args)
      local hits = M.search(conv.kb, args.query, 3)
      local note = ""
      if #hits == 0 then
        -- A small model's query can miss; the customer's own words are the next best query.
        hits = M.search(conv.kb, conv.message, 3)
        note = ("Nothing matched %q. For the customer's message: "):format(args.query)
      end
      conv.lookups[#conv.lookups + 1] = json.object({ query = args.query, entry = hits[1] and hits[1].entry.id or json.null },
        { "query", "entry" })
      if #hits == 0 then
        return ("Nothing in the knowledge base matches %q or the customer's message. Escalate to a human."):format(
          args.query)
      end
      local lines = { note .. entry_text(hits[1].entry) }
      for i = 2, #hits do lines[#lines + 1] = ("Also: %s: %s"):format(hits[i].entry.topic, hits[i].entry.question) end
      return table.concat(lines, "\n")
    end,
  }
  local escalate = {
    name = "escalate",
    description = "Pass the conversation to a human agent; returns the ticket id to give the customer.",
    params = {
      type = "object",
      properties = json.object({ reason = { type = "string" }, priority = { enum = { "low", "normal", "urgent" } } },
        { "reason", "priority" }),
      required = { "reason", "priority" },
    },
    run = function(args)
      if #conv.tickets > 0 then
        return ("Ticket %s is already open for this conversation. Tell the customer its id."):format(conv.tickets[1])
      end
      local reason = args.reason:find("%S") and args.reason or "(no reason given)"
      local id = M.write_ticket(conv, reason, args.priority)
      return ("Ticket %s opened; a human agent will answer by email within one business day. Tell the customer "
        .. "the ticket id."):format(id)
    end,
  }
  local reply = {
    name = "reply",
    description = "Send your answer to the customer.",
    params = { type = "object", properties = { message = { type = "string" } }, required = { "message" } },
    run = function(args)
      local message = args.message:gsub("^%s+", ""):gsub("%s+$", "")
      if message == "" then error("the message is empty; write the answer to the customer", 0) end
      conv.replies[#conv.replies + 1] = message
      conv.send(message)
      return "Sent to the customer. Call finish unless something is left to do."
    end,
  }
  return { lookup, escalate, reply }
end

-- ------------------------------------------------------------------ agent

local holding_messages = {
  Chinese = "抱歉，我们暂时无法直接回答您的问题。您的问题已转交人工客服，工单号为 %s，我们会在一个工作日内通过电子邮件回复您。",
  default = "Sorry, we could not answer your question right away. It has been passed on to our support team as "
    .. "ticket %s; we will answer by email within one business day.",
}

--- A support agent for one customer message. Options: model, message (the
-- customer's text), workspace (where tickets go), kb (a directory or a table
-- from load_kb; default support_kb/ next to this file), seed, max_steps
-- (default 6), temperature (default 0.3), n_ctx, on_step, send (called with
-- each reply; default: print it). Returns agent, conv.
function M.new_agent(o)
  assert(type(o.message) == "string" and o.message:find("%S"), "support: the customer's message is empty")
  if not utf8.len(o.message) then error("support: the customer's message is not valid UTF-8", 0) end
  assert(type(o.workspace) == "string", "support: give a workspace directory")
  local kb = type(o.kb) == "table" and o.kb or M.load_kb(o.kb or M.default_kb)
  local conv = {
    message = o.message, kb = kb, workspace = o.workspace, language = M.detect_language(o.message),
    lookups = {}, replies = {}, tickets = {},
    send = o.send or function(text)
      io.stdout:write(text, "\n")
      io.stdout:flush()
    end,
  }
  local agent = Agent.new{
    model = o.model,
    name = "Lumi",
    role = "the customer-support agent of Lumen Notes, a note-taking app with an AI assistant",
    goals = { ("Help the customer, who wrote: \"%s\""):format(o.message) },
    constraints = {
      "First look the question up with lookup_faq; answer only from what the knowledge base says.",
      "Send the answer with reply, then call finish.",
      "If the knowledge base has no answer, or the customer asks for a person, call escalate, then reply with "
        .. "the ticket id.",
      M.language_rule(conv.language),
    },
    max_steps = o.max_steps or 6,
    seed = o.seed or 0,
    temperature = o.temperature or 0.3,
    n_ctx = o.n_ctx,
    thought_chars = o.thought_chars,
    workspace = o.workspace,
    on_step = o.on_step,
  }
  agent:tool(M.tools(conv))
  return agent, conv
end

--- Runs the conversation: the agent, then, when it ended without any
-- reply, an escalation with a holding message in the customer's language.
-- Returns {status, reason, steps, replies, tickets, lookups, language,
-- escalated_automatically, agent}.
function M.run(o)
  local agent, conv = M.new_agent(o)
  local result = agent:run()
  local auto = false
  if #conv.replies == 0 then
    local id = conv.tickets[1]
    if not id then
      id = M.write_ticket(conv, ("the agent ended without replying (%s%s)"):format(result.status,
        result.reason and (": " .. result.reason) or ""), "normal")
    end
    local holding = holding_messages[conv.language.language] or holding_messages.default
    conv.replies[#conv.replies + 1] = holding:format(id)
    conv.send(conv.replies[#conv.replies])
    auto = true
  end
  return {
    status = result.status, reason = result.reason, steps = result.steps, tokens_used = result.tokens_used,
    replies = conv.replies, tickets = conv.tickets, lookups = conv.lookups, language = conv.language,
    escalated_automatically = auto, agent = agent,
  }
end

local usage = [[
usage: vkagent agent examples/agents/support.lua [options] [MESSAGE...]
  The customer's message: the arguments, or standard input when there are none.
  --model PATH     GGUF model, ideally an instruct model (default: see vkagent.cli.find_model)
  --device D       auto, cpu, vulkan, vulkan:N (default: auto)
  --workspace DIR  where tickets are written (default: /tmp/vkagent-support)
  --kb DIR         the knowledge base (default: support_kb/ next to this script)
  --seed N         sampling seed (default 1)
  --temperature T  (default 0.3)
  --steps N        step limit (default 6)
  --ctx N          context size in tokens (default 4096, or the model's if smaller)]]

function M.main(args)
  local opts, rest = cli.parse(args, { model = "", device = "auto", workspace = "/tmp/vkagent-support", kb = "",
                                       seed = 1, temperature = 0.3, steps = 6, ctx = 4096 }, usage)
  local message = table.concat(rest, " ")
  if not message:find("%S") then message = io.stdin:read("a") or "" end
  message = message:gsub("^%s+", ""):gsub("%s+$", "")
  if message == "" then
    io.stderr:write("support: no message (give it as arguments or on standard input)\n", usage, "\n")
    return 2
  end
  local model = vkagent.load(cli.find_model(opts.model), { device = opts.device })
  local info = model:info()
  local n_ctx = math.min(math.tointeger(opts.ctx) or 4096, info.n_ctx_train > 0 and info.n_ctx_train or 4096)
  local lang = M.detect_language(message)
  io.stderr:write(("model: %s (%s, chat template %s), %d-token context, on %s\nlanguage: %s (%s script)\n\n"):format(
    info.name, info.architecture, info.chat_template, n_ctx, info.device, lang.language or "not known",
    lang.script or "no"))
  local r = M.run{
    model = model, message = message, workspace = opts.workspace, kb = opts.kb ~= "" and opts.kb or nil,
    seed = math.tointeger(opts.seed), temperature = opts.temperature, max_steps = math.tointeger(opts.steps),
    n_ctx = n_ctx,
    on_step = function(step)
      io.stderr:write(Agent.format_step(step), "\n")
      io.stderr:flush()
    end,
  }
  io.stderr:write(("\nstatus: %s%s, %d steps, %d tokens; %d repl%s, tickets: %s\n"):format(r.status,
    r.reason and (" (" .. r.reason .. ")") or "", #r.steps, r.tokens_used or 0, #r.replies,
    #r.replies == 1 and "y" or "ies", #r.tickets > 0 and table.concat(r.tickets, ", ") or "none"))
  if #r.tickets > 0 then io.stderr:write(("tickets are in %s/tickets/\n"):format(opts.workspace)) end
  return r.status == "error" and 1 or 0
end

-- Run as a script (vkagent agent support.lua / lua5.4 support.lua): the
-- chunk's own file is arg[0]. Loaded by dofile from elsewhere: a module.
if arg and arg[0] and debug.getinfo(1, "S").source == "@" .. arg[0] then
  os.exit(M.main(arg))
end
return M
