-- vkagent.agent — an autonomous agent loop in the style of AutoGPT: goal ->
-- think -> choose a tool -> act -> observe -> repeat. Each reply is
-- generated under a JSON schema built from the registered tools, so the
-- command always names a registered tool with arguments its schema allows;
-- a reply cut off before its end (max_tokens, the context) runs nothing.
--
--   local Agent = require "vkagent.agent"
--   local agent = Agent.new{model = model, name = "Teller", role = "a storyteller",
--                           goals = {"Write a story into story.txt."}}
--   agent:tool(require("vkagent.tools").files{root = "/tmp/ws"})
--   local result = agent:run()   -- {status, steps, result, reason, tokens_used}
--
-- A game advances it a bounded piece per frame instead: agent:poll{tokens
-- = 8} (or a step at a time, agent:step()); tools run in coroutines of
-- their own and may yield until a game event; agent:save()/restore() keep
-- a run across a save file.
local vkagent = require "vkagent"
local schema = require "vkagent.schema"
local prompt = require "vkagent.prompt"
local json = vkagent.json

local Agent = {}
Agent.__index = Agent

local options = {
  model = "userdata|table", name = "string", role = "string", goals = "table", constraints = "table",
  max_steps = "number", prompt_style = "string", n_ctx = "number", temperature = "number", top_k = "number",
  top_p = "number", min_p = "number", seed = "number", token_budget = "number", repeat_limit = "number|boolean",
  observation_tokens = "number", history = "number", history_call_chars = "number", thought_chars = "number",
  string_chars = "number|boolean", reply_tokens = "number", finish = "boolean", workspace = "string",
  chat_template = "boolean", strict = "boolean",
  on_step = "function", approve = "function", on_token = "function", session = "userdata|table",
}

local function check_options(o)
  if type(o) ~= "table" then error("Agent.new: expected a table of options, got " .. type(o), 3) end
  for k, v in pairs(o) do
    local want = options[k]
    if not want then error("Agent.new: unknown option '" .. tostring(k) .. "'", 3) end
    if not want:find(type(v), 1, true) then
      error(("Agent.new: option '%s' must be a %s, got %s"):format(k, want:gsub("|", " or "), type(v)), 3)
    end
  end
  local mt = getmetatable(o.model)
  if type(mt) ~= "table" or (mt.__name ~= "vkagent.model" and mt.__name ~= "vkagent.remote_model") then
    error("Agent.new: option 'model' must be a model from vkagent.load or vkagent.connect", 3)
  end
end

local function string_list(list, what)
  local out = {}
  for i, v in ipairs(list or {}) do
    if type(v) ~= "string" then error(("Agent.new: %s[%d] must be a string"):format(what, i), 4) end
    out[i] = v
  end
  return out
end

--- Agent.new{model=, name=, role=, goals={...}, constraints={...},
-- max_steps=10, prompt_style="compact"|"full", ...}: see docs/lua.md for
-- every option.
function Agent.new(o)
  check_options(o)
  local self = setmetatable({}, Agent)
  self.model = o.model
  self.name = o.name or "Agent"
  self.role = o.role or "an autonomous agent that reaches its goals by calling tools"
  self.goals = string_list(o.goals, "goals")
  if #self.goals == 0 then error("Agent.new: give at least one goal (goals = {\"...\"})", 2) end
  self.constraints = string_list(o.constraints, "constraints")
  self.max_steps = math.tointeger(o.max_steps or 10)
  if not self.max_steps or self.max_steps < 1 then error("Agent.new: max_steps must be a whole number >= 1", 2) end
  if o.session ~= nil then
    -- a session of the game's own, e.g. one loaded with model:load_session
    local smt = getmetatable(o.session)
    if type(smt) ~= "table" or (smt.__name ~= "vkagent.session" and smt.__name ~= "vkagent.remote_session") then
      error("Agent.new: option 'session' must be a session from model:session or model:load_session", 2)
    end
    if o.n_ctx then error("Agent.new: give n_ctx or session, not both (a session has its context)", 2) end
    if o.session:model() ~= o.model then error("Agent.new: option 'session' is a session of another model", 2) end
    self.session = o.session
  else
    self.session = o.model:session{ n_ctx = o.n_ctx and math.tointeger(o.n_ctx) or nil }
  end
  self.n_ctx = self.session:n_ctx()
  self.prompt_style = o.prompt_style or (self.n_ctx <= 1024 and "compact" or "full")
  if self.prompt_style ~= "compact" and self.prompt_style ~= "full" then
    error("Agent.new: prompt_style must be \"compact\" or \"full\", not \"" .. self.prompt_style .. "\"", 2)
  end
  local compact = self.prompt_style == "compact"
  if o.chat_template == nil then self.chat_template = o.model:info().chat_template_recognised
  else self.chat_template = o.chat_template end
  self.sampling = {
    temperature = o.temperature or 0.7, top_k = o.top_k and math.tointeger(o.top_k), top_p = o.top_p,
    min_p = o.min_p,
  }
  self.seed = math.tointeger(o.seed or 0) or error("Agent.new: seed must be a whole number", 2)
  self.token_budget = o.token_budget
  if o.repeat_limit == nil then self.repeat_limit = 3
  elseif o.repeat_limit == false then self.repeat_limit = nil
  elseif o.repeat_limit == true then self.repeat_limit = 3
  else self.repeat_limit = math.max(2, math.tointeger(o.repeat_limit) or 3) end
  self.observation_tokens = o.observation_tokens or self.n_ctx // 8
  self.history = o.history or (compact and 4 or 8)
  self.history_call_chars = o.history_call_chars or (compact and 40 or 400)
  self.thought_chars = o.thought_chars or (compact and 20 or 240)
  if o.string_chars == false then self.string_chars = nil
  else self.string_chars = o.string_chars or (compact and 40 or nil) end
  self.user_reply_tokens = o.reply_tokens
  self.with_finish = o.finish ~= false
  self.strict = o.strict ~= false
  self.workspace = o.workspace
  self.on_step, self.approve, self.on_token = o.on_step, o.approve, o.on_token
  self.tools, self.tool_list = {}, {}
  return self
end

local finish_spec = {
  name = "finish",
  description = "End the task with a result.",
  params = { type = "object", properties = { result = { type = "string" } }, required = { "result" },
             additionalProperties = false },
}

local spec_keys = { name = true, description = true, params = true, run = true }

local function add_tool(self, spec, where)
  if type(spec) ~= "table" then error(where .. ": a tool spec must be a table, got " .. type(spec), 3) end
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%a_][%w_%-]*$") or #name > 64 then
    error(where .. ": tool name must be a word of letters, digits, '_' or '-', got " .. tostring(name), 3)
  end
  for k in pairs(spec) do
    -- a misspelt key (parameters, fn, desc) would otherwise be dropped without a word
    if not spec_keys[k] then
      error(("%s: tool '%s': unknown key '%s' (a tool spec has name, description, params and run)"):format(where,
        name, tostring(k)), 3)
    end
  end
  if self.tools[name] then error(where .. ": a tool named '" .. name .. "' is already registered", 3) end
  if name == "finish" and self.with_finish and spec ~= finish_spec then
    error(where .. ": 'finish' is built in (Agent.new{finish = false} leaves it out)", 3)
  end
  if spec.description ~= nil and type(spec.description) ~= "string" then
    error(where .. ": tool '" .. name .. "': description must be a string", 3)
  end
  if spec.run ~= nil and type(spec.run) ~= "function" then
    error(where .. ": tool '" .. name .. "': run must be a function", 3)
  end
  if spec.run == nil and spec ~= finish_spec then error(where .. ": tool '" .. name .. "' has no run function", 3) end
  local params = spec.params or { type = "object", properties = {}, additionalProperties = false }
  if type(params) ~= "table" or (params.type ~= nil and params.type ~= "object") then
    error(where .. ": tool '" .. name .. "': params must be a JSON schema of an object (type = \"object\")", 3)
  end
  if params.properties == nil or params.type == nil then
    -- args are always an object (a schema without `type` allows any value)
    params = schema.copy(params)
    params.type = "object"
    params.properties = params.properties or {}
  end
  local ok, err = pcall(schema.check, params)
  if not ok then error(where .. ": tool '" .. name .. "': " .. tostring(err), 3) end
  local tool = {
    name = name, description = spec.description or "", run = spec.run,
    params = schema.prepare(params, self.string_chars),
  }
  self.tools[name] = tool
  self.tool_list[#self.tool_list + 1] = tool
end

--- agent:tool(spec) or agent:tool{spec, spec, ...}: registers tools
-- {name, description, params = <JSON schema of the args object>,
-- run = function(args, ctx) -> observation}. Returns the agent.
function Agent:tool(spec)
  if type(spec) == "table" and spec.name == nil and spec[1] ~= nil then
    for _, s in ipairs(spec) do add_tool(self, s, "agent:tool") end
  else
    add_tool(self, spec, "agent:tool")
  end
  return self
end

--- The schema every reply is generated under.
function Agent:reply_schema_for()
  local str = { type = "string", maxLength = self.thought_chars }
  -- The agent's own objects say additionalProperties = false: under the
  -- standard's default (true) a reply could carry members nobody reads.
  local thoughts = {
    type = "object",
    properties = json.object({ text = str, reasoning = str, plan = str, criticism = str },
      { "text", "reasoning", "plan", "criticism" }),
    required = { "text", "reasoning", "plan", "criticism" },
    additionalProperties = false,
  }
  local alternatives = json.array()
  for _, t in ipairs(self.tool_list) do
    alternatives[#alternatives + 1] = {
      type = "object",
      properties = json.object({ name = { const = t.name }, args = t.params }, { "name", "args" }),
      required = { "name", "args" },
      additionalProperties = false,
    }
  end
  return {
    type = "object",
    properties = json.object({ thoughts = thoughts, command = { oneOf = alternatives } }, { "thoughts", "command" }),
    required = { "thoughts", "command" },
    additionalProperties = false,
  }
end

--- Ends the run with status "aborted" after the current step (a tool
-- waiting on a yield is abandoned at the next call).
function Agent:stop(reason)
  self.stop_request = reason or "stopped"
end

-- A value's type as a message names it: "a function", "a userdata (vkagent.model)".
local function type_name(v)
  local t = type(v)
  if t == "userdata" then
    local mt = getmetatable(v)
    local name = type(mt) == "table" and rawget(mt, "__name")
    return type(name) == "string" and ("a userdata (" .. name .. ")") or "a userdata"
  end
  if t == "table" or t == "function" or t == "thread" then return "a " .. t end
  return t
end

-- A thrown value as text: a string as it is, an object through its
-- __tostring or as JSON, anything else named by its type.
local function error_text(err)
  local t = type(err)
  if t == "string" then return err end
  if t == "number" or t == "boolean" then return tostring(err) end
  local mt = getmetatable(err)
  if type(mt) == "table" and rawget(mt, "__tostring") then
    local ok, text = pcall(tostring, err)
    if ok and type(text) == "string" then return text end
  end
  if t == "table" then
    local ok, text = pcall(json.encode, err)
    if ok then return "an error object " .. text end
  end
  return ("an error value that cannot be shown (%s)"):format(type_name(err))
end

-- A tool's return value as the observation text; or nil and why it
-- cannot become text (the step then observes that error).
local function as_observation(value)
  local t = type(value)
  if value == nil then return "Done." end
  if t == "string" then return value end
  if t == "number" or t == "boolean" then return tostring(value) end
  if t == "table" then
    local ok, text = pcall(json.encode, value)
    if ok then return text end
    local mt = getmetatable(value)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      local shown, s = pcall(tostring, value)
      if shown and type(s) == "string" then return s end
    end
    return nil, "the tool returned a table that cannot become text: "
      .. tostring(text):gsub("^json%.encode: ", "", 1)
  end
  return nil, ("the tool returned %s, which cannot become text"):format(type_name(value))
end

local cut_off_causes = {
  max_tokens = "max tokens", context_full = "the context is full", cancelled = "cancelled",
  callback = "stopped by on_token", stop_string = "a stop string",
}

-- Parses and checks the reply, then acts on its command: fills
-- step.observation, or returns the coroutine that runs the chosen tool.
local function act(self, step, calls)
  if not step.complete then
    -- Half a document is never parsed: a prefix can decode as JSON and
    -- still not be the call the model was making.
    local cause = cut_off_causes[step.stop_reason] or step.stop_reason
    step.error = ("the reply was cut off before the tool call was complete (%s); no tool was run. HINT: give the "
      .. "reply more room (n_ctx, reply_tokens) or keep the thoughts shorter (thought_chars)"):format(cause)
    step.observation = "Your reply was cut off before the command was complete, so nothing was run. Keep the "
      .. "thoughts short."
    return
  end
  local ok, reply = pcall(json.decode, step.reply)
  if not ok then
    step.error = reply
    step.observation = "Your reply was not valid JSON: " .. error_text(reply)
    return
  end
  local valid, why = schema.validate(reply, self.reply_schema, { strict = self.strict })
  if not valid then
    step.error = why
    step.observation = "Your reply did not follow the schema: " .. why
    return
  end
  step.thoughts, step.command = reply.thoughts, reply.command
  local cmd = reply.command
  if self.approve then
    local hook_ok, verdict, reason = pcall(self.approve, cmd, step, self)
    if not hook_ok then
      self.ending = { "error", "the approve hook failed: " .. error_text(verdict) }
      step.observation = "Not run: the approval check failed."
      return
    end
    if verdict == false then
      step.vetoed = true
      step.observation = "Vetoed: " .. (type(reason) == "string" and reason or "the call was not approved.")
      return
    end
  end
  if self.repeat_limit then
    -- The same call as the step before (same tool, same arguments): not run
    -- again, since its result would not change; repeat_limit in a row ends the run.
    local key = cmd.name .. " " .. json.encode(cmd.args)
    calls.run = key == calls.last and calls.run + 1 or 1
    calls.last = key
    if calls.run > 1 then
      step.repeated = calls.run
      step.observation = ("Repeated call: this is the same %s call as the step before (%d in a row); it was "
        .. "not run again. Do something different."):format(cmd.name, calls.run)
      if calls.run >= self.repeat_limit then
        self.ending = { "looping", ("the same call (%s) was made %d times in a row"):format(cmd.name, calls.run) }
      end
      return
    end
  end
  if cmd.name == "finish" and self.with_finish then
    step.observation = "Finished."
    self.ending = { "done", nil, cmd.args.result }
    return
  end
  -- A coroutine of its own, so the tool may yield (wait for a game event)
  -- and be resumed by a later poll, whatever called the agent.
  local run = self.tools[cmd.name].run
  local ctx = { agent = self, step = step, model = self.model, workspace = self.workspace }
  return coroutine.create(function() return run(cmd.args, ctx) end)
end

-- ------------------------------------------------------------------ the run
-- A run is a small machine (self.run_state) that the calls below advance:
-- phase "prompt" (the next step's prompt is fitted and its generation
-- opened), "generate" (the reply is sampled a few tokens at a time from a
-- session:stream), "tool" (the chosen tool runs in its coroutine, perhaps
-- over several calls) and "ended" (state.result holds the outcome).

-- Adds the built-in finish and fixes the reply schema and its reserve.
local function prepare(self, where, level)
  if #self.tool_list == 0 and not self.with_finish then error(where .. ": no tools registered", level + 1) end
  if self.with_finish and not self.tools.finish then add_tool(self, finish_spec, where) end
  self.reply_schema = self:reply_schema_for()
  self.reply_tokens = self.user_reply_tokens or prompt.reply_estimate(self, 1.5)
end

local function finish_run(self, status, reason, value)
  local rs = self.run_state
  if rs.stream then rs.stream:close() end
  if rs.co then coroutine.close(rs.co) end
  rs.stream, rs.co, rs.step, rs.waiting = nil, nil, nil, nil
  rs.phase = "ended"
  rs.result = { status = status, steps = self.steps, result = value, reason = reason, tokens_used = self.tokens_used }
end

local function record_step(self, step)
  self.steps[#self.steps + 1] = step
  self.tokens_used = self.tokens_used + step.prompt_tokens + step.generated_tokens
  local rs = self.run_state
  rs.step, rs.n, rs.completed = nil, rs.n + 1, step
end

-- The step is over: it joins the history, the hook sees it, and the run
-- ends if something asked for that.
local function complete_step(self, step)
  record_step(self, step)
  local rs = self.run_state
  rs.phase = "prompt"
  if self.on_step then
    local hook_ok, verdict = pcall(self.on_step, step, self)
    if not hook_ok then return finish_run(self, "error", "the on_step hook failed: " .. error_text(verdict)) end
    if verdict == false then self.stop_request = self.stop_request or "stopped by the on_step hook" end
  end
  if self.ending then return finish_run(self, self.ending[1], self.ending[2], self.ending[3]) end
  if self.stop_request then return finish_run(self, "aborted", self.stop_request) end
  if rs.n > self.max_steps then
    return finish_run(self, "max_steps", ("the step limit of %d was reached"):format(self.max_steps))
  end
end

-- A model of vkagent.connect: the whole prompt goes to the server, which
-- reuses its cached prefix itself: a plain prompt as text (/v1/completions),
-- a chat-template one as its system and user messages (/v1/chat/completions,
-- rendered by the server).
local function begin_remote_step(self, step, text, gen)
  local rs = self.run_state
  local ok, err = pcall(function()
    self.session:reset()
    if self.chat_template then
      gen.enable_thinking = false
      rs.stream = self.session:chat_stream(prompt.messages_of(self, text), gen)
    else
      rs.stream = self.session:stream(text, gen)
    end
  end)
  if not ok then return finish_run(self, "error", ("step %d: generation failed: %s"):format(rs.n, error_text(err))) end
  rs.to_feed, rs.chunk, rs.hook_stopped = 0, 0, false
  rs.step, rs.phase = step, "generate"
end

-- Fits the prompt of the next step and opens its generation, reusing the
-- session's tokens that match the prompt (only the changed end is fed).
local function begin_step(self)
  local rs = self.run_state
  if self.stop_request then return finish_run(self, "aborted", self.stop_request) end
  if rs.n > self.max_steps then
    return finish_run(self, "max_steps", ("the step limit of %d was reached"):format(self.max_steps))
  end
  local text, n_prompt, fit = prompt.fit(self, self.steps, rs.n, self.n_ctx - self.reply_tokens)
  if not text then return finish_run(self, "error", n_prompt) end
  -- A step starts only when its prompt and the reply it reserves fit in what is left.
  if self.token_budget and self.tokens_used + n_prompt + self.reply_tokens > self.token_budget then
    return finish_run(self, "aborted", ("the token budget of %d tokens is used up (%d used; the next step needs "
      .. "%d for its prompt and %d for its reply)"):format(self.token_budget, self.tokens_used, n_prompt,
      self.reply_tokens))
  end
  local step = { n = rs.n, prompt = text, prompt_tokens = n_prompt, omitted = fit.omitted, summarised = fit.omitted,
                 history_clipped = fit.clipped or nil }
  local gen = {
    json_schema = self.reply_schema, strict = self.strict, max_tokens = self.n_ctx - n_prompt,
    seed = self.seed + rs.n - 1, temperature = self.sampling.temperature, top_k = self.sampling.top_k,
    top_p = self.sampling.top_p, min_p = self.sampling.min_p,
  }
  if self.model.remote then return begin_remote_step(self, step, text, gen) end
  local ids = prompt.tokenize(self, text)
  local have = self.session:tokens()
  local keep = 0
  while keep < #ids and keep < #have and ids[keep + 1] == have[keep + 1] do keep = keep + 1 end
  if keep == #ids then keep = keep - 1 end
  local ok, err = pcall(function()
    self.session:rewind(keep)
    gen.prefill_chunk = rs.prefill
    rs.stream = self.session:stream(table.move(ids, keep + 1, #ids, 1, {}), gen)
  end)
  if not ok then return finish_run(self, "error", ("step %d: generation failed: %s"):format(rs.n, error_text(err))) end
  rs.to_feed, rs.chunk, rs.hook_stopped = #ids - keep, rs.prefill, false
  rs.step, rs.phase = step, "generate"
end

-- The reply is complete (or cut off): its counts go into the step, and
-- its command is acted on.
local function reply_done(self)
  local rs, step = self.run_state, self.run_state.step
  local st = rs.stream
  st:close()
  rs.stream = nil
  local info = st:result()
  step.reply, step.generated_tokens = st:text(), info.n_generated
  step.stop_reason = rs.hook_stopped and "callback" or info.stop_reason
  step.complete = info.complete and not rs.hook_stopped
  rs.co = act(self, step, rs.calls)
  if rs.co then rs.phase = "tool" else complete_step(self, step) end
end

-- Feeds at most one chunk of the prompt and samples at most `tokens`
-- tokens; returns false when that budget ran out before the reply ended.
local function generate_some(self, tokens)
  local rs = self.run_state
  local st, fed, sampled = rs.stream, false, 0
  -- A session of a scheduler: scheduler:step() advanced the stream; one
  -- next() takes what arrived since the last poll (the reply may end).
  if self.session:batched() then tokens = 1 end
  -- A server's stream: poll takes what has arrived without waiting; step and run wait.
  if self.model.remote then st.wait = tokens ~= math.huge and 0 or nil end
  while true do
    local feeding = rs.to_feed > 0 and not self.session:batched()
    if (feeding and fed) or (not feeding and sampled >= tokens) then return false end
    local ok, piece = pcall(st.next, st, 1)
    if not ok then
      finish_run(self, "error", ("step %d: generation failed: %s"):format(rs.n, error_text(piece)))
      return true
    end
    if feeding then
      fed = true
      rs.to_feed = rs.chunk > 0 and math.max(0, rs.to_feed - rs.chunk) or 0
    else
      sampled = sampled + 1
    end
    if piece == nil then
      reply_done(self)
      return true
    end
    if piece ~= "" and self.on_token then
      local hook_ok, verdict = pcall(self.on_token, piece)
      if not hook_ok then
        finish_run(self, "error", ("step %d: generation failed: %s"):format(rs.n, error_text(verdict)))
        return true
      end
      if verdict == false then
        rs.hook_stopped = true
        reply_done(self)
        return true
      end
    end
  end
end

-- Resumes the step's tool (with `resume`, a packed list, on a later call);
-- returns true while it waits (it yielded).
local function run_tool(self, resume)
  local rs, step = self.run_state, self.run_state.step
  local co = rs.co
  local res = table.pack(coroutine.resume(co, table.unpack(resume or {}, 1, resume and resume.n or 0)))
  if coroutine.status(co) == "suspended" then
    rs.waiting = table.pack(table.unpack(res, 2, res.n))
    step.waiting = res[2] == nil and true or res[2]
    return true
  end
  rs.co, rs.waiting, step.waiting = nil, nil, nil
  if res[1] then
    local text, why = as_observation(res[2])
    if text then step.observation = text
    else
      step.tool_error = why
      step.observation = "Error: " .. why
    end
  else
    -- "file.lua:12: " says where in the tool's code; the model needs only what went wrong.
    step.tool_error = error_text(res[2])
    step.observation = "Error: " .. step.tool_error:gsub("^[^\n]-:%d+: ", "", 1)
  end
  local cut
  step.observation, cut = prompt.cut_observation(self.model, step.observation, self.observation_tokens)
  step.observation_cut = cut or nil
  complete_step(self, step)
  return false
end

-- Advances the run by at most one step and the given amount of work;
-- returns the run's status ("running", "waiting" or how it ended) and the
-- step that was completed by this call, if any.
local function advance(self, tokens, resume)
  local rs = self.run_state
  rs.completed = nil
  while true do
    local phase = rs.phase
    if phase == "ended" then return rs.result.status, rs.completed end
    if phase == "prompt" then
      if rs.completed then return "running", rs.completed end
      begin_step(self)
    elseif phase == "generate" then
      if not generate_some(self, tokens) then return "running", nil end
    elseif self.stop_request and rs.waiting then
      rs.step.tool_error = "the run was stopped while the tool was waiting"
      rs.step.observation = "Error: " .. rs.step.tool_error
      record_step(self, rs.step)
      finish_run(self, "aborted", self.stop_request)
    else
      if run_tool(self, resume) then return "waiting", nil end
      resume = nil
    end
  end
end

--- Starts a new run (forgetting the last one); agent:poll, agent:step and
-- agent:run start one themselves when there is none. Returns the agent.
local function start_run(self, where, level)
  prepare(self, where, level + 1)
  if self.run_state and self.run_state.phase ~= "ended" then finish_run(self, "aborted", "a new run was started") end
  self.steps, self.tokens_used, self.ending, self.stop_request = {}, 0, nil, nil
  self.run_state = { n = 1, calls = { run = 0 }, phase = "prompt", prefill = 0 }
end

function Agent:start()
  start_run(self, "agent:start", 2)
  return self
end

local function current_run(self, where)
  if not self.run_state then start_run(self, where, 3) end
  return self.run_state
end

local poll_options = { tokens = true, prefill = true }

--- agent:poll{tokens = 8, prefill = 64}: a bounded piece of work, for a
-- game's frame: feeds at most `prefill` prompt tokens (0: the whole
-- prompt at once) and samples at most `tokens` tokens, and completes at
-- most one step. Returns status, step: "running" (poll again), "waiting"
-- (the step's tool yielded; the next poll resumes it) or how the run
-- ended ("done", "max_steps", "looping", "aborted", "error"; agent:result()
-- has the rest); and the step completed by this call, if any
-- (agent:current() is the one in progress).
function Agent:poll(opts)
  if opts ~= nil and type(opts) ~= "table" then error("agent:poll: expected a table of options, got " .. type(opts), 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if not poll_options[k] then error("agent:poll: unknown option '" .. tostring(k) .. "'", 2) end
  end
  local tokens = opts.tokens == nil and 8 or math.tointeger(opts.tokens)
  if not tokens or tokens < 1 then error("agent:poll: tokens must be a whole number >= 1", 2) end
  local prefill = opts.prefill == nil and 64 or math.tointeger(opts.prefill)
  if not prefill or prefill < 0 then error("agent:poll: prefill must be a whole number >= 0 (0: all at once)", 2) end
  local rs = current_run(self, "agent:poll")
  rs.prefill = prefill
  return advance(self, tokens)
end

--- agent:step() -> step, status: runs the next step to its end (think,
-- choose a tool, act, observe) and returns its record and the run's status
-- ("running" or how the run ended); nil and the status once it has ended.
-- When the tool yields, step() yields the same values from the coroutine
-- it was called in and resumes the tool with what that coroutine is resumed
-- with; outside a coroutine it returns the step and "waiting", and the next
-- call resumes the tool.
function Agent:step()
  local rs = current_run(self, "agent:step")
  if self.session:batched() then
    error("agent:step: the agent's session belongs to a scheduler, whose scheduler:step() advances it; "
      .. "call agent:poll() and scheduler:step() from the loop instead", 2)
  end
  if rs.phase == "ended" then return nil, rs.result.status end
  rs.prefill = 0
  local resume
  while true do
    local status, step = advance(self, math.huge, resume)
    if status == "waiting" then
      if not coroutine.isyieldable() then return rs.step, "waiting" end
      resume = table.pack(coroutine.yield(table.unpack(rs.waiting, 1, rs.waiting.n)))
    elseif step or status ~= "running" then
      return step, status
    end
  end
end

--- Runs (or goes on with) the run until it ends; returns {status =
-- "done"|"max_steps"|"looping"|"aborted"|"error", steps = {...}, result =
-- <finish's result when done>, reason = <why, otherwise>, tokens_used = N}.
function Agent:run()
  if not self.run_state or self.run_state.phase == "ended" then start_run(self, "agent:run", 2) end
  local rs = self.run_state
  while rs.phase ~= "ended" do
    local step, status = self:step()
    if status == "waiting" then
      step.tool_error = ("the tool '%s' yielded, but agent:run() was not called from a coroutine, so nothing "
        .. "can resume it. HINT: advance the agent with agent:poll() from the game loop, or call agent:run() "
        .. "inside a coroutine"):format(step.command.name)
      step.observation = "Error: " .. step.tool_error
      record_step(self, step)
      finish_run(self, "error", ("step %d: %s"):format(step.n, step.tool_error))
    end
  end
  return rs.result
end

--- The run's result table once it has ended (as agent:run returns it), else nil.
function Agent:result()
  return self.run_state and self.run_state.result
end

--- "idle" before the first run, "running", "waiting" (a tool yielded), or
-- how the run ended.
function Agent:status()
  local rs = self.run_state
  if not rs then return "idle" end
  if rs.phase == "ended" then return rs.result.status end
  return rs.phase == "tool" and rs.waiting and "waiting" or "running"
end

--- The record of the step in progress (nil between steps); while its tool
-- waits, step.waiting is the first value the tool yielded.
function Agent:current()
  return self.run_state and self.run_state.step
end

--- True while a reply is being generated: its session has a stream open
-- and refuses save, generate, reset and rewind until the reply is done.
function Agent:generating()
  return self.run_state ~= nil and self.run_state.phase == "generate"
end

--- The prompt of the step in progress, or of the next one: text,
-- n_tokens, info {omitted =, clipped =}; nil and a message when it does
-- not fit.
function Agent:prompt()
  local rs = self.run_state
  if rs and rs.step then
    return rs.step.prompt, rs.step.prompt_tokens, { omitted = rs.step.omitted, clipped = rs.step.history_clipped == true }
  end
  prepare(self, "agent:prompt", 2)
  return prompt.fit(self, self.steps or {}, rs and rs.n or 1, self.n_ctx - self.reply_tokens)
end

local SAVE_FORMAT, SAVE_VERSION = "vkagent.agent", 1

--- The run as a plain table that json.encode can write (a game's save
-- file): the finished steps, counters and, once ended, the outcome. A step
-- in progress is not saved: after agent:restore it is done again.
function Agent:save()
  local rs = self.run_state
  local saved = { format = SAVE_FORMAT, version = SAVE_VERSION, n = 1, steps = json.array(), tokens_used = 0,
                  calls = { run = 0 } }
  if not rs then return saved end
  for i, step in ipairs(self.steps) do
    local copy = {}
    for k, v in pairs(step) do if k ~= "waiting" then copy[k] = v end end
    saved.steps[i] = copy
  end
  saved.n, saved.tokens_used, saved.stop_request = #self.steps + 1, self.tokens_used, self.stop_request
  saved.calls = { run = rs.calls.run, last = rs.calls.last }
  if rs.result then
    saved.result = { status = rs.result.status, reason = rs.result.reason, result = rs.result.result }
  end
  return saved
end

--- Goes on with a run saved by agent:save (a table, or its JSON text) on an
-- agent made with the same options and tools. The session needs no saving:
-- the next prompt is built from the history and fed afresh (or reused from
-- a session given as Agent.new{session = model:load_session(path)}).
-- Returns the agent.
function Agent:restore(saved)
  if type(saved) == "string" then saved = json.decode(saved) end
  if type(saved) ~= "table" or saved.format ~= SAVE_FORMAT then
    error("agent:restore: expected a table from agent:save, got " .. type_name(saved), 2)
  end
  if saved.version ~= SAVE_VERSION then
    error(("agent:restore: saved by format version %s; this agent reads version %d"):format(
      tostring(saved.version), SAVE_VERSION), 2)
  end
  if type(saved.steps) ~= "table" or math.type(saved.n) ~= "integer" or saved.n ~= #saved.steps + 1 then
    error("agent:restore: the saved steps are damaged (n and the step list disagree)", 2)
  end
  start_run(self, "agent:restore", 2)
  for i, step in ipairs(saved.steps) do self.steps[i] = step end
  self.tokens_used, self.stop_request = saved.tokens_used or 0, saved.stop_request
  local rs = self.run_state
  rs.n = saved.n
  if type(saved.calls) == "table" then rs.calls = { run = saved.calls.run or 0, last = saved.calls.last } end
  if saved.result then
    rs.phase = "ended"
    rs.result = { status = saved.result.status, reason = saved.result.reason, result = saved.result.result,
                  steps = self.steps, tokens_used = self.tokens_used }
  end
  return self
end

--- A step as a few lines of text, for logs and demos.
function Agent.format_step(step)
  local lines = { ("[step %d] %d prompt + %d generated tokens"):format(step.n, step.prompt_tokens or 0,
    step.generated_tokens or 0) }
  if step.thoughts then
    lines[#lines + 1] = "  thought:   " .. step.thoughts.text
    lines[#lines + 1] = "  reasoning: " .. step.thoughts.reasoning
    lines[#lines + 1] = "  plan:      " .. step.thoughts.plan
    lines[#lines + 1] = "  criticism: " .. step.thoughts.criticism
  end
  if step.command then
    lines[#lines + 1] = "  call:      " .. step.command.name .. " " .. json.encode(step.command.args)
  elseif step.error then
    lines[#lines + 1] = "  no call:   " .. tostring(step.error)
  end
  lines[#lines + 1] = "  result:    " .. (step.observation or ""):gsub("\n", "\n             ")
  return table.concat(lines, "\n")
end

return Agent
