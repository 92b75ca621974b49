-- vkagent.remote — vkagent.connect{url=, api_key=, model=}: a model served
-- over HTTP (`vkagent serve`, or another OpenAI-compatible server) with the
-- surface the agent library uses: info, tokenize, apply_chat_template and
-- sessions with generate, chat and stream, JSON-schema constrained through
-- response_format. Against vkagent serve (which has llama.cpp-server-style
-- /props, /tokenize, /detokenize and /apply-template) token counts and
-- templates are the server's own; elsewhere they are estimated, and
-- model:info().exact_tokens says which (docs/lua.md, "connect").
local vkagent = require "vkagent"
local json, http = vkagent.json, vkagent.http

local M = {}

local Model = { __name = "vkagent.remote_model" }
Model.__index = Model
local Session = { __name = "vkagent.remote_session" }
Session.__index = Session
local Stream = { __name = "vkagent.remote_stream" }
Stream.__index = Stream

-- ------------------------------------------------------------------ HTTP

local function headers_of(model, with_body)
  local h = { Accept = "application/json" }
  if with_body then h["Content-Type"] = "application/json" end
  if model.api_key then h.Authorization = "Bearer " .. model.api_key end
  return h
end

-- "the server answered 400 (param prompt): message" from an OpenAI error
-- object, or the first line of whatever else the body was.
local function http_error(fn, url, status, body)
  local ok, doc = pcall(json.decode, body or "")
  local err = ok and type(doc) == "table" and doc.error
  if type(err) == "table" then
    local param = type(err.param) == "string" and (" (param " .. err.param .. ")") or ""
    return ("%s: %s answered %d%s: %s"):format(fn, url, status, param, tostring(err.message))
  elseif type(err) == "string" then
    return ("%s: %s answered %d: %s"):format(fn, url, status, err)
  end
  local line = tostring(body or ""):match("^[^\n]*"):sub(1, 200)
  return ("%s: %s answered %d%s"):format(fn, url, status, line ~= "" and (": " .. line) or "")
end

-- One request with a JSON answer; raises on transport and HTTP errors
-- unless `allow` lists the status (then returns nil and the status).
local function call(model, fn, method, path, body, allow)
  local url = model.base .. path
  local status, text = http.request{ url = url, method = method, body = body and json.encode(body),
                                     headers = headers_of(model, body ~= nil), timeout = model.timeout,
                                     connect_timeout = model.connect_timeout }
  if status ~= 200 then
    if allow and allow[status] then return nil, status end
    error(http_error(fn, url, status, text), 0)
  end
  local ok, doc = pcall(json.decode, text)
  if not ok then error(("%s: %s answered text that is not JSON: %s"):format(fn, url, text:sub(1, 120)), 0) end
  return doc, status
end

local NOT_THERE = { [404] = true, [405] = true, [501] = true }

-- ------------------------------------------------------------------ connect

local connect_keys = { url = true, api_key = true, model = true, timeout = true, connect_timeout = true,
                       n_ctx = true, chat_template = true }

--- vkagent.connect{url = "http://127.0.0.1:8080", api_key = KEY (default
-- $VKAGENT_API_KEY), model = NAME (default: the server's first), timeout
-- = 600, connect_timeout = 10, n_ctx = N (default: the server's, else
-- 4096), chat_template = true|false (default: the server's; true for a
-- server without /props)} -> a remote model.
function M.connect(opts)
  local fn = "vkagent.connect"
  if type(opts) ~= "table" then error(fn .. ": expected a table of options, got " .. type(opts), 2) end
  for k in pairs(opts) do
    if not connect_keys[k] then error(fn .. ": unknown option '" .. tostring(k) .. "'", 2) end
  end
  if type(opts.url) ~= "string" or not opts.url:match("^https?://") then
    error(fn .. ": url must be an http:// or https:// address, got " .. tostring(opts.url), 2)
  end
  local self = setmetatable({}, Model)
  -- the server's root: OpenAI's paths are under /v1, the extensions beside it
  self.base = opts.url:gsub("/+$", ""):gsub("/v1$", "")
  self.api_key = opts.api_key or os.getenv("VKAGENT_API_KEY")
  if self.api_key == "" then self.api_key = nil end
  self.timeout = opts.timeout or 600
  self.connect_timeout = opts.connect_timeout or 10
  self.remote = true
  self.cache, self.cache_size = {}, 0

  local models = call(self, fn, "GET", "/v1/models")
  local list = type(models) == "table" and models.data or {}
  if opts.model then
    self.name = opts.model
  elseif type(list[1]) == "table" and type(list[1].id) == "string" then
    self.name = list[1].id
  else
    error(fn .. ": " .. self.base .. "/v1/models lists no model; give one with connect{model = ...}", 2)
  end

  local props = call(self, fn, "GET", "/props", nil, NOT_THERE)
  local vk = type(props) == "table" and type(props.vkagent) == "table" and props.vkagent or nil
  local settings = type(props) == "table" and props.default_generation_settings or {}
  local server_ctx = math.tointeger(type(settings) == "table" and settings.n_ctx or nil)
  self.info_table = {
    name = self.name, architecture = vk and vk.architecture or "remote",
    device = "remote: " .. self.base, url = self.base, remote = true,
    n_ctx = math.tointeger(opts.n_ctx) or server_ctx or 4096,
    n_vocab = vk and vk.n_vocab or 0, n_ctx_train = vk and vk.n_ctx_train or 0,
    add_bos = vk and vk.add_bos or false, token_bos = vk and vk.token_bos or -1,
    token_eos = vk and vk.token_eos or -1, token_eot = vk and vk.token_eot or -1,
    chat_template = vk and vk.chat_template or "server", exact_tokens = false,
  }
  if opts.chat_template ~= nil then self.info_table.chat_template_recognised = opts.chat_template == true
  elseif vk then self.info_table.chat_template_recognised = vk.chat_template_recognised == true
  else self.info_table.chat_template_recognised = true end
  -- /tokenize present: counts are the server's own tokenizer's
  if vk then
    local probe = call(self, fn, "POST", "/tokenize", { content = "" }, NOT_THERE)
    self.info_table.exact_tokens = probe ~= nil
    self.has_template = self.info_table.exact_tokens
  end
  return self
end

-- ------------------------------------------------------------------ model

local function check_model(self, fn)
  if getmetatable(self) ~= Model then error(fn .. ": expected a remote model (use ':')", 3) end
  if self.closed then error(fn .. ": the model is closed", 3) end
end

function Model:info()
  check_model(self, "model:info")
  local t = {}
  for k, v in pairs(self.info_table) do t[k] = v end
  return t
end

local function cached(self, key, make)
  local v = self.cache[key]
  if v == nil then
    if self.cache_size >= 512 then self.cache, self.cache_size = {}, 0 end
    v = make()
    self.cache[key], self.cache_size = v, self.cache_size + 1
  end
  return v
end

-- Whether a tokenization adds BOS: as the model asks, unless opts.bos says.
local function wants_bos(self, opts)
  if opts and opts.bos ~= nil then return opts.bos end
  return self.info_table.add_bos
end

--- model:tokenize(text, {bos =, special =}) -> ids, from the server's
-- /tokenize (an error on a server without it: use model:count_tokens).
function Model:tokenize(text, opts)
  check_model(self, "model:tokenize")
  if type(text) ~= "string" then error("model:tokenize: argument #1 (text) must be a string, got " .. type(text), 2) end
  if not self.info_table.exact_tokens then
    error("model:tokenize: " .. self.base .. " has no /tokenize (not vkagent serve); model:count_tokens estimates", 2)
  end
  local special = opts and opts.special or false
  local bos = wants_bos(self, opts)
  local key = (bos and "B" or "b") .. (special and "S" or "s") .. text
  local ids = cached(self, key, function()
    local doc = call(self, "model:tokenize", "POST", "/tokenize",
      { content = text, add_special = false, parse_special = special })
    local got = doc.tokens
    local bos_id = self.info_table.token_bos
    if bos and bos_id >= 0 and got[1] ~= bos_id then table.insert(got, 1, bos_id) end
    return got
  end)
  return table.move(ids, 1, #ids, 1, {})
end

--- model:count_tokens(text, opts) -> n: exact where the server tokenizes,
-- else an over-estimate (one token per 3 bytes) so that prompts still fit.
function Model:count_tokens(text, opts)
  check_model(self, "model:count_tokens")
  if self.info_table.exact_tokens then return #self:tokenize(text, opts) end
  return (#text + 2) // 3 + (wants_bos(self, opts) and 1 or 0)
end

function Model:detokenize(ids)
  check_model(self, "model:detokenize")
  if not self.info_table.exact_tokens then error("model:detokenize: " .. self.base .. " has no /detokenize", 2) end
  return call(self, "model:detokenize", "POST", "/detokenize", { tokens = ids }).content
end

local function messages_of(messages, fn)
  if type(messages) == "string" then
    local ok, decoded = pcall(json.decode, messages)
    if not ok then error(fn .. ": messages are not valid JSON: " .. tostring(decoded), 3) end
    return decoded
  end
  if type(messages) ~= "table" then error(fn .. ": messages must be a list or JSON text, got " .. type(messages), 3) end
  return messages
end

-- A rendering for counting only, where the server has no /apply-template:
-- ChatML, as close to the common templates' length as any.
local function chatml(messages, add_prompt)
  local parts = {}
  for _, m in ipairs(messages) do
    parts[#parts + 1] = ("<|im_start|>%s\n%s<|im_end|>\n"):format(tostring(m.role), tostring(m.content or ""))
  end
  if add_prompt then parts[#parts + 1] = "<|im_start|>assistant\n" end
  return table.concat(parts)
end

local template_keys = { tools = true, add_generation_prompt = true, enable_thinking = true }

--- model:apply_chat_template(messages, {tools =, add_generation_prompt =,
-- enable_thinking =}) -> the prompt text, rendered by the server's
-- /apply-template (estimated as ChatML where it has none).
function Model:apply_chat_template(messages, opts)
  local fn = "model:apply_chat_template"
  check_model(self, fn)
  messages = messages_of(messages, fn)
  opts = opts or {}
  for k in pairs(opts) do
    if not template_keys[k] then error(fn .. ": unknown option '" .. tostring(k) .. "' for a remote model", 2) end
  end
  local add_prompt = opts.add_generation_prompt ~= false
  if not self.has_template then return chatml(messages, add_prompt) end
  local body = { messages = messages, tools = opts.tools, add_generation_prompt = add_prompt,
                 chat_template_kwargs = { enable_thinking = opts.enable_thinking ~= false } }
  local key = "T" .. json.encode(body)
  return cached(self, key, function() return call(self, fn, "POST", "/apply-template", body).prompt end)
end

function Model:session(opts)
  check_model(self, "model:session")
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "n_ctx" and k ~= "n_batch" and k ~= "kv_type" then
      error("model:session: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  local n_ctx = math.tointeger(opts.n_ctx or 0) or error("model:session: n_ctx must be a whole number", 2)
  if n_ctx <= 0 or n_ctx > self.info_table.n_ctx then n_ctx = self.info_table.n_ctx end
  return setmetatable({ model_ref = self, ctx = n_ctx, context = "" }, Session)
end

function Model:close() self.closed = true end
Model.__close = Model.close
function Model:__tostring() return "vkagent.remote_model (" .. self.base .. ")" end

-- ------------------------------------------------------------------ sampling

-- The options a remote generation takes; the others of session:generate
-- (grammar, repeat_penalty, ...) have no OpenAI counterpart and are errors.
local gen_keys = {
  max_tokens = true, temperature = true, top_p = true, top_k = true, min_p = true, seed = true, stop = true,
  frequency_penalty = true, presence_penalty = true, logit_bias = true, json_schema = true, json = true,
  strict = true, on_token = true, tokens_per_call = true, prefill_chunk = true, parse_special = true,
  stop_on_eos = true,
}
local chat_keys = { tools = true, enable_thinking = true, add_generation_prompt = true }

local function request_body(self, fn, opts, chat)
  for k in pairs(opts) do
    if not gen_keys[k] and not (chat and chat_keys[k]) then
      error(("%s: option '%s' is not available on a remote model"):format(fn, tostring(k)), 3)
    end
  end
  if opts.stop_on_eos == false then error(fn .. ": stop_on_eos = false is not available on a remote model", 3) end
  if chat and opts.add_generation_prompt == false then
    error(fn .. ": add_generation_prompt = false is not available on a remote model", 3)
  end
  local max_tokens = math.tointeger(opts.max_tokens or 256)
  if not max_tokens then error(fn .. ": opts.max_tokens must be an integer", 3) end
  local body = {
    model = self.model_ref.name, stream = true, stream_options = { include_usage = true },
    max_tokens = max_tokens > 0 and max_tokens or self.ctx,
    temperature = opts.temperature, top_p = opts.top_p, seed = opts.seed,
    -- llama.cpp's and vLLM's extensions (OpenAI has neither; vkagent serve keeps them off)
    top_k = opts.top_k, min_p = opts.min_p,
    frequency_penalty = opts.frequency_penalty, presence_penalty = opts.presence_penalty,
  }
  if opts.temperature and opts.temperature < 0 then body.temperature = 0 end
  if opts.stop then body.stop = type(opts.stop) == "string" and { opts.stop } or opts.stop end
  if opts.logit_bias then
    local bias = {}
    for id, b in pairs(opts.logit_bias) do bias[tostring(id)] = math.max(-100, math.min(100, b)) end
    body.logit_bias = bias
  end
  if opts.json_schema ~= nil then
    local schema = opts.json_schema
    if type(schema) == "string" then schema = json.decode(schema) end
    body.response_format = { type = "json_schema",
                             json_schema = { name = "reply", schema = schema, strict = opts.strict == true } }
  elseif opts.json then
    body.response_format = { type = "json_object" }
  elseif opts.strict then
    error(fn .. ": strict needs json_schema", 3)
  end
  if chat then
    if opts.tools then
      -- as session:chat does locally: the tools are in the prompt, nothing is constrained
      body.tools, body.tool_choice = opts.tools, "none"
    end
    if opts.enable_thinking ~= nil then body.chat_template_kwargs = { enable_thinking = opts.enable_thinking } end
  end
  return body
end

-- ------------------------------------------------------------------ session

local function check_session(self, fn)
  if getmetatable(self) ~= Session then error(fn .. ": expected a remote session (use ':')", 3) end
  if self.closed then error(fn .. ": the session is closed", 3) end
end

local function check_idle(self, fn)
  check_session(self, fn)
  if self.open and not self.open.over then error(fn .. ": a stream is open on this session", 3) end
end

function Session:model() return self.model_ref end
function Session:n_ctx() return self.ctx end
function Session:batched() return false end
function Session:warning() return nil end

--- The session's context as the server's tokenizer reads it: the text it
-- holds (what stream/generate fed and generated since the last reset), or
-- the last chat rendered in the template with its reply. Needs the
-- server's /tokenize (an empty list elsewhere). The server keeps its own
-- prefix cache, so rewind and reset only change what the next prompt
-- continues.
function Session:tokens()
  check_session(self, "session:tokens")
  local m = self.model_ref
  if not m.info_table.exact_tokens then return {} end
  if self.chat_messages then
    local ids = m:tokenize(m:apply_chat_template(self.chat_messages) .. (self.last_text or ""),
      { special = true, bos = false })
    return ids
  end
  if self.context == "" then return {} end
  return m:tokenize(self.context)
end

function Session:n_past() return #self:tokens() end

--- session:rewind(n): the next prompt continues the first n tokens of the
-- context (read back as text through the server's /detokenize).
function Session:rewind(n)
  check_idle(self, "session:rewind")
  n = math.tointeger(n) or error("session:rewind: n must be a whole number", 2)
  local ids = self:tokens()
  if n >= #ids then return end
  self.chat_messages = nil
  if n <= 0 then self.context = "" return end
  self.context = self.model_ref:detokenize(table.move(ids, 1, n, 1, {}))
end

function Session:reset()
  check_idle(self, "session:reset")
  self.context, self.chat_messages, self.last_text = "", nil, nil
end

function Session:cancel()
  if self.open then self.open:close() end
end

function Session:close()
  if self.open then self.open:close() end
  self.closed = true
end
Session.__close = Session.close
Session.__gc = Session.close

local function open_stream(self, fn, path, body, prompt, opts)
  local m = self.model_ref
  local url = m.base .. path
  local response = http.open{ url = url, method = "POST", body = json.encode(body), headers = headers_of(m, true),
                              timeout = m.timeout, connect_timeout = m.connect_timeout }
  local st = setmetatable({ session = self, response = response, fn = fn, url = url, chat = path:find("chat") ~= nil,
                            pending = "", pieces = {}, text_parts = {}, n_pieces = 0,
                            on_token = opts.on_token }, Stream)
  self.open, self.last_text = st, nil
  if type(prompt) == "table" then self.chat_messages, self.context = prompt, ""
  else self.chat_messages, self.context = nil, prompt end
  return st
end

local function text_prompt(self, prompt, fn)
  if type(prompt) == "string" then return prompt end
  if type(prompt) == "table" then
    -- token ids: as text, through the server's /detokenize (the server tokenizes them again)
    if #prompt == 0 then return "" end
    return self.model_ref:detokenize(prompt)
  end
  error(fn .. ": argument #1 (prompt) must be text or a list of token ids, got " .. type(prompt), 3)
end

--- session:stream(prompt, opts) -> stream: /v1/completions, streamed.
function Session:stream(prompt, opts)
  check_idle(self, "session:stream")
  opts = opts or {}
  local body = request_body(self, "session:stream", opts, false)
  -- a session's prompt continues what it holds, as locally
  local text = (self.chat_messages and "" or self.context) .. text_prompt(self, prompt, "session:stream")
  body.prompt = text
  return open_stream(self, "session:stream", "/v1/completions", body, text, opts)
end

--- session:chat_stream(messages, opts) -> stream: /v1/chat/completions,
-- streamed (the server renders the messages in its chat template).
function Session:chat_stream(messages, opts)
  check_idle(self, "session:chat_stream")
  opts = opts or {}
  local body = request_body(self, "session:chat_stream", opts, true)
  body.messages = messages_of(messages, "session:chat_stream")
  return open_stream(self, "session:chat_stream", "/v1/chat/completions", body, body.messages, opts)
end

local function drain(st)
  local parts = {}
  while true do
    local piece = st:next()
    if piece == nil then break end
    parts[#parts + 1] = piece
  end
  st:close()
  return table.concat(parts), st:result()
end

--- session:generate(prompt, opts) -> text, info (as the local one).
function Session:generate(prompt, opts)
  local st = self:stream(prompt, opts)
  return drain(st)
end

--- session:chat(messages, opts) -> text, info: the server renders the
-- conversation; info.n_reused is 0 (the server's prefix cache is its own).
function Session:chat(messages, opts)
  local st = self:chat_stream(messages, opts)
  local text, info = drain(st)
  info.n_reused = 0
  return text, info
end

-- ------------------------------------------------------------------ stream

local stop_reasons = { stop = "eos", length = "max_tokens", tool_calls = "eos", content_filter = "cancelled" }

-- Raises the server's error: a non-200 answer is read whole first.
-- Looks at the answer's status once its headers are in (waiting for them
-- unless `poll`); returns whether they were.
local function check_status(st, poll)
  local status, content_type = st.response:status(not poll)
  if status == 0 and poll then return false end
  st.checked = true
  if status == 200 then
    -- a server that ignores stream = true answers with the whole JSON
    st.whole = content_type ~= nil and content_type:find("json", 1, true) ~= nil
    return true
  end
  local parts = {}
  for piece in function() return st.response:read() end do parts[#parts + 1] = piece end
  st:close()
  error(http_error(st.fn, st.url, status, table.concat(parts)), 0)
end

-- The whole answer of a server that did not stream, as one piece.
local function take_whole(st)
  local ok, doc = pcall(json.decode, st.pending)
  if not ok or type(doc) ~= "table" then
    error(("%s: %s answered text that is not JSON: %s"):format(st.fn, st.url, st.pending:sub(1, 120)), 0)
  end
  st.usage = type(doc.usage) == "table" and doc.usage or nil
  local choice = type(doc.choices) == "table" and doc.choices[1] or {}
  local text = st.chat and type(choice.message) == "table" and choice.message.content or choice.text
  if type(text) == "string" and text ~= "" then
    st.pieces[#st.pieces + 1] = text
    st.n_pieces = 1
  end
  st.finish_reason, st.ended = choice.finish_reason, true
end

-- Takes the complete events out of st.pending and queues the text they
-- carry (one piece per event: about a token each).
local function take_events(st)
  local out = st.pieces
  while true do
    local a, b = st.pending:find("\r?\n\r?\n")
    if not a then break end
    local event = st.pending:sub(1, a - 1)
    st.pending = st.pending:sub(b + 1)
    for data in event:gmatch("data: ?([^\r\n]*)") do
      if data == "[DONE]" then
        st.ended = true
      else
        local ok, chunk = pcall(json.decode, data)
        if not ok then error(("%s: %s sent an event that is not JSON: %s"):format(st.fn, st.url, data:sub(1, 120)), 0) end
        if type(chunk.error) == "table" then error(http_error(st.fn, st.url, 500, data), 0) end
        if type(chunk.usage) == "table" then st.usage = chunk.usage end
        local choice = type(chunk.choices) == "table" and chunk.choices[1]
        if type(choice) == "table" then
          local piece = st.chat and type(choice.delta) == "table" and choice.delta.content or choice.text
          if type(piece) == "string" and piece ~= "" then
            out[#out + 1] = piece
            st.n_pieces = st.n_pieces + 1
          end
          if type(choice.finish_reason) == "string" then st.finish_reason = choice.finish_reason end
        end
      end
    end
  end
end

-- The next queued piece, through on_token.
local function hand_out(st)
  local text = table.remove(st.pieces, 1)
  st.text_parts[#st.text_parts + 1] = text
  if st.on_token and st.on_token(text) == false then
    st.hook_stopped = true
    st:close()
  end
  return text
end

--- stream:next() -> the text of the server's next event ("" when what
-- arrived carried none), or nil at the end. Waits for the next event, or
-- at most stream.wait seconds when that is set (agent:poll sets 0: a
-- frame takes what has arrived and goes on).
function Stream:next()
  if #self.pieces > 0 then return hand_out(self) end
  if self.over then return nil end
  local wait = self.wait
  if not self.checked then
    local ok, checked = pcall(check_status, self, wait ~= nil)
    if not ok then
      self:close()
      error(checked, 0)
    end
    if not checked then return "" end
  end
  while true do
    local ok, data = pcall(self.response.read, self.response, wait)
    if not ok then
      self:close()
      error(data, 0)
    end
    if data == nil and self.whole and not self.ended then
      local okw, err = pcall(take_whole, self)
      if not okw then
        self:close()
        error(err, 0)
      end
      if #self.pieces > 0 then return hand_out(self) end
    end
    if data == nil then
      if not self.finish_reason and not self.ended then
        self:close()
        error(("%s: %s ended the stream before its last event"):format(self.fn, self.url), 0)
      end
      self:close()
      return nil
    end
    self.pending = self.pending .. data
    local okp, err = true, nil
    if not self.whole then okp, err = pcall(take_events, self) end
    if not okp then
      self:close()
      error(err, 0)
    end
    if #self.pieces > 0 then return hand_out(self) end
    if self.ended then
      self:close()
      return nil
    end
    return ""
  end
end

function Stream:__call() return self:next() end

function Stream:text() return table.concat(self.text_parts) end
function Stream:done() return self.over == true end

--- stream:result() -> info {stop_reason, complete, n_prompt_tokens,
-- n_generated, n_past, finish_reason}: the server's usage and finish_reason.
function Stream:result()
  local usage = self.usage or {}
  local reason = self.hook_stopped and "callback" or stop_reasons[self.finish_reason]
    or (self.finish_reason == nil and "cancelled") or self.finish_reason
  local n_prompt = math.tointeger(usage.prompt_tokens) or 0
  local n_generated = math.tointeger(usage.completion_tokens) or self.n_pieces
  return { stop_reason = reason, complete = reason == "eos", finish_reason = self.finish_reason,
           n_prompt_tokens = n_prompt, n_generated = n_generated, n_past = n_prompt + n_generated }
end

function Stream:close()
  if self.over then return end
  self.over, self.pieces = true, {}
  self.response:close()
  local s = self.session
  s.last_text = self:text()
  if not s.chat_messages then s.context = s.context .. s.last_text end
end
Stream.__close = Stream.close

return M
