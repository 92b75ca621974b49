-- vkagent.prompt — the agent's prompt: role, goals, constraints, the tools
-- with their argument schemas, and the recent history, in a "compact"
-- style for small contexts (stories260K: 512 tokens) or a "full" one; and
-- the fitting that keeps prompt + reply inside the context by summarising
-- older steps, counting tokens with the model's own tokenizer.
local vkagent = require "vkagent"
local schema = require "vkagent.schema"
local json = vkagent.json

local M = {}

--- Text cut to at most n characters (UTF-8 aware), with "..." when cut.
function M.clip(text, n)
  text = tostring(text)
  if (utf8.len(text) or #text) <= n then return text end
  local ok, cut = pcall(utf8.offset, text, n + 1)
  return text:sub(1, (ok and cut or n + 1) - 1) .. "..."
end

local function oneline(text)
  return (tostring(text):gsub("%s+", " "))
end

local function encode_args(args)
  local ok, text = pcall(json.encode, args)
  return ok and text or "{?}"
end

local function header_compact(a)
  local lines = { ("You are %s, %s."):format(a.name, a.role) }
  lines[#lines + 1] = "Goal: " .. table.concat(a.goals, " ")
  if #a.constraints > 0 then lines[#lines + 1] = "Rules: " .. table.concat(a.constraints, " ") end
  lines[#lines + 1] = "Tools:"
  for _, t in ipairs(a.tool_list) do
    lines[#lines + 1] = ("%s(%s): %s"):format(t.name, schema.describe(t.params, true), t.description)
  end
  lines[#lines + 1] = "Reply with thoughts and a command."
  return table.concat(lines, "\n") .. "\n"
end

local function header_full(a)
  local lines = { ("You are %s. Your role: %s."):format(a.name, a.role), "", "Goals:" }
  for i, g in ipairs(a.goals) do lines[#lines + 1] = ("%d. %s"):format(i, g) end
  if #a.constraints > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Constraints:"
    for i, c in ipairs(a.constraints) do lines[#lines + 1] = ("%d. %s"):format(i, c) end
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Tools (call exactly one per step; its args must follow its JSON schema):"
  for _, t in ipairs(a.tool_list) do
    lines[#lines + 1] = ("- %s: %s"):format(t.name, t.description)
    lines[#lines + 1] = "  args schema: " .. json.encode(t.params)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = 'Reply with one JSON object: {"thoughts": {"text": "...", "reasoning": "...", "plan": "...", '
    .. '"criticism": "..."}, "command": {"name": "<tool>", "args": {...}}}'
  return table.concat(lines, "\n") .. "\n"
end

--- The part of the prompt that every step repeats.
function M.header(a)
  return a.prompt_style == "full" and header_full(a) or header_compact(a)
end

--- One step as the history shows it.
function M.step_line(a, step)
  local call = step.command and (step.command.name .. " " .. encode_args(step.command.args)) or "(no valid command)"
  if a.prompt_style == "full" then
    local thought = step.thoughts and step.thoughts.text or ""
    return ("Step %d: thought: %s\ncalled %s\nresult: %s\n"):format(step.n, oneline(thought), call,
      step.observation or "")
  end
  return ("%d. %s -> %s\n"):format(step.n, M.clip(oneline(call), a.history_call_chars),
    oneline(step.observation or ""))
end

--- "(4 earlier steps omitted: write_file x3, list_files x1.)": the steps
-- 1..last that the prompt no longer shows, counted by tool; without the
-- steps (an empty list), "(4 earlier steps omitted.)".
function M.summary_line(steps, last)
  if last < 1 then return "" end
  if #steps == 0 then return ("(%d earlier step%s omitted.)\n"):format(last, last == 1 and "" or "s") end
  local counts, order = {}, {}
  for i = 1, last do
    local name = steps[i].command and steps[i].command.name or "invalid reply"
    if not counts[name] then order[#order + 1] = name end
    counts[name] = (counts[name] or 0) + 1
  end
  local parts = {}
  for _, name in ipairs(order) do parts[#parts + 1] = name .. " x" .. counts[name] end
  return ("(%d earlier step%s omitted: %s.)\n"):format(last, last == 1 and "" or "s", table.concat(parts, ", "))
end

--- The last step's line when it does not fit whole: the tool's name
-- without its arguments, and the first `keep` bytes of the observation
-- with "..." when that is not all of it.
function M.short_step_line(a, step, keep)
  local obs = oneline(step.observation or "")
  while keep > 0 and keep < #obs and (obs:byte(keep + 1) & 0xC0) == 0x80 do keep = keep - 1 end
  if keep < #obs then obs = obs:sub(1, keep) .. "..." end
  local call = step.command and step.command.name or "(no valid command)"
  if a.prompt_style == "full" then return ("Step %d: called %s\nresult: %s\n"):format(step.n, call, obs) end
  return ("%d. %s -> %s\n"):format(step.n, call, obs)
end

local function footer(a, n)
  if a.prompt_style == "full" or a.chat_template then return ("Step %d (now): reply with JSON.\n"):format(n) end
  return ("%d.\n"):format(n)
end

--- The token ids of a prompt as the agent feeds it: a plain prompt gets
-- BOS as the model asks; a chat-template prompt is tokenized with its
-- special tokens, BOS only where the template writes it (as vka_session_chat).
function M.tokenize(a, text)
  if a.chat_template then return a.model:tokenize(text, { special = true, bos = false }) end
  return a.model:tokenize(text)
end

--- The number of tokens `text` takes as a prompt, counted by the model's
-- tokenizer (a model of vkagent.connect counts through its server, or
-- estimates where the server cannot tokenize).
function M.count(a, text)
  if a.model.remote then
    return a.model:count_tokens(text, a.chat_template and { special = true, bos = false } or nil)
  end
  return #M.tokenize(a, text)
end

-- Tokens of a piece of text inside a prompt (no BOS), on either kind of model.
local function count_plain(model, text)
  if model.remote then return model:count_tokens(text, { bos = false }) end
  return #model:tokenize(text, { bos = false })
end

--- The prompt text: header and body as they are, or, for a model with a
-- chat template, a system message (the header) and a user message (the
-- history and the request), with the assistant's turn opened (thinking off).
function M.render(a, header, body)
  if not a.chat_template then return header .. body end
  local messages = { { role = "system", content = header }, { role = "user", content = body } }
  local text = a.model:apply_chat_template(messages, { enable_thinking = false })
  -- a server renders the messages itself: remember which made the text
  if a.model.remote then
    a.rendered = a.rendered or {}
    a.rendered[text] = messages
  end
  return text
end

--- The messages M.render made `text` of (a model of vkagent.connect, whose
-- server is sent the messages rather than the text).
function M.messages_of(a, text)
  local messages = a.rendered and a.rendered[text]
  if not messages then error("prompt.messages_of: no rendering made this prompt") end
  return messages
end

-- The least of the last observation a prompt shows, in bytes.
local MIN_OBSERVATION_BYTES = 24

--- The prompt for step n within `budget` tokens: the header, a summary
-- line for the steps not shown (how many, and their tools), the most
-- recent steps (at most a.history) in full, and the footer. The summary
-- and the last step always stay. When they do not fit whole, the last step
-- loses its arguments and its observation is shortened to what fits (then
-- the summary is cut down to the number of steps); if even its first
-- MIN_OBSERVATION_BYTES bytes do not fit, the prompt keeps them and
-- exceeds the budget (never the context), leaving less room for the reply.
-- Returns prompt, n_tokens, info = {omitted = steps only counted in the
-- summary line, clipped = the last step is shown shortened}; or nil and a
-- message when even the header does not fit.
function M.fit(a, steps, n, budget)
  local header, last = M.header(a), #steps
  a.rendered = nil   -- M.render's texts of this fit only
  local function build(first, last_line, bare_summary)
    local parts = { bare_summary and M.summary_line({}, first - 1) or M.summary_line(steps, first - 1) }
    for i = first, last - 1 do parts[#parts + 1] = M.step_line(a, steps[i]) end
    parts[#parts + 1] = last_line or ""
    parts[#parts + 1] = footer(a, n)
    local text = M.render(a, header, table.concat(parts))
    return text, M.count(a, text)
  end
  local bare = M.render(a, header, footer(a, n))
  local bare_tokens = M.count(a, bare)
  if bare_tokens > budget then
    return nil, ("the prompt does not fit: its fixed part takes %d tokens, and %d are left after reserving "
      .. "%d for the reply in a context of %d. HINT: shorten the role, goals, constraints or tool "
      .. "descriptions, use fewer tools, or lower reply_tokens"):format(bare_tokens, budget, a.reply_tokens, a.n_ctx)
  end
  if last == 0 then return bare, bare_tokens, { omitted = 0, clipped = false } end
  local last_line = M.step_line(a, steps[last])
  for first = math.max(1, last - a.history + 1), last do
    local text, tokens = build(first, last_line)
    if tokens <= budget then return text, tokens, { omitted = first - 1, clipped = false } end
  end
  -- Only the summary and the last step: the longest observation prefix that fits.
  local obs_len = #oneline(steps[last].observation or "")
  local floor = math.min(obs_len, MIN_OBSERVATION_BYTES)
  local clipped = { omitted = last - 1, clipped = true }
  for _, bare_summary in ipairs({ false, true }) do
    local function try(keep) return build(last, M.short_step_line(a, steps[last], keep), bare_summary) end
    local text, tokens = try(floor)
    if tokens <= budget then
      local lo, hi = floor, obs_len
      while lo < hi do
        local mid = (lo + hi + 1) // 2
        if select(2, try(mid)) <= budget then lo = mid else hi = mid - 1 end
      end
      if lo > floor then text, tokens = try(lo) end
      return text, tokens, clipped
    end
  end
  local text, tokens = build(last, M.short_step_line(a, steps[last], floor), true)
  if tokens >= a.n_ctx then
    return nil, ("the prompt does not fit: with the last step's observation cut to %d bytes it takes %d tokens "
      .. "of a context of %d. HINT: a larger n_ctx, or a shorter role, goals or tool descriptions"):format(floor,
      tokens, a.n_ctx)
  end
  return text, tokens, clipped
end

--- `text` cut so that it takes at most max_tokens tokens, with a note
-- saying how much was cut; returns text, was_cut.
function M.cut_observation(model, text, max_tokens)
  local function count(t) return count_plain(model, t) end
  if #text <= max_tokens or count(text) <= max_tokens then return text, false end
  local function note(rest) return (" [...cut: %d more bytes]"):format(rest) end
  -- Largest prefix (on a character boundary) that fits together with the note.
  local lo, hi = 0, #text
  while lo < hi do
    local mid = (lo + hi + 1) // 2
    while mid > 0 and mid < #text and (text:byte(mid + 1) & 0xC0) == 0x80 do mid = mid - 1 end
    if mid <= lo then break end
    if count(text:sub(1, mid) .. note(#text - mid)) <= max_tokens then lo = mid else hi = mid - 1 end
  end
  return text:sub(1, lo) .. note(#text - lo), true
end

--- An upper estimate of the tokens a reply takes: the JSON skeleton of
-- the longest command (counted) plus the string bounds at `chars_per_token`.
function M.reply_estimate(a, chars_per_token)
  local function skeleton(s)
    if type(s) ~= "table" then return '""', 0 end
    if s.const ~= nil then return json.encode(s.const), 0 end
    if s.enum then
      local longest = ""
      for _, e in ipairs(s.enum) do
        local t = json.encode(e)
        if #t > #longest then longest = t end
      end
      return longest, 0
    end
    if s.properties then
      local parts, chars = {}, 0
      for _, k in ipairs(schema.member_order(s)) do
        local text, c = skeleton(s.properties[k])
        parts[#parts + 1] = json.encode(k) .. ":" .. text
        chars = chars + c
      end
      return "{" .. table.concat(parts, ",") .. "}", chars
    end
    local alts = s.oneOf or s.anyOf
    if alts then
      local best, best_cost = '""', -1
      local best_chars = 0
      for _, alt in ipairs(alts) do
        local text, c = skeleton(alt)
        local cost = #text + c
        if cost > best_cost then best, best_cost, best_chars = text, cost, c end
      end
      return best, best_chars
    end
    if s.type == "string" then return '""', s.maxLength or 64 end
    if s.type == "integer" or s.type == "number" then return "0", 16 end
    if s.type == "boolean" then return "false", 0 end
    if s.type == "array" then return "[]", 64 end
    return "null", 16
  end
  local text, chars = skeleton(a.reply_schema)
  return count_plain(a.model, text) + math.ceil(chars / chars_per_token)
end

return M
