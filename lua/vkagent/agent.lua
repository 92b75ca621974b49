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
local vkagent = require "vkagent"
local schema = require "vkagent.schema"
local prompt = require "vkagent.prompt"
local json = vkagent.json

local Agent = {}
Agent.__index = Agent

local options = {
  model = "userdata", name = "string", role = "string", goals = "table", constraints = "table",
  max_steps = "number", prompt_style = "string", n_ctx = "number", temperature = "number", top_k = "number",
  top_p = "number", min_p = "number", seed = "number", token_budget = "number", repeat_limit = "number|boolean",
  observation_tokens = "number", history = "number", history_call_chars = "number", thought_chars = "number",
  string_chars = "number|boolean", reply_tokens = "number", finish = "boolean", workspace = "string",
  chat_template = "boolean", strict = "boolean",
  on_step = "function", approve = "function", on_token = "function",
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
  if type(mt) ~= "table" or mt.__name ~= "vkagent.model" then
    error("Agent.new: option 'model' must be a model from vkagent.load", 3)
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
  self.session = o.model:session{ n_ctx = o.n_ctx and math.tointeger(o.n_ctx) or nil }
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

local function add_tool(self, spec, where)
  if type(spec) ~= "table" then error(where .. ": a tool spec must be a table, got " .. type(spec), 3) end
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%a_][%w_%-]*$") or #name > 64 then
    error(where .. ": tool name must be a word of letters, digits, '_' or '-', got " .. tostring(name), 3)
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

--- Ends the run after the current step with status "aborted".
function Agent:stop(reason)
  self.stop_request = reason or "stopped"
end

-- Generates the reply to `text`, reusing the session's tokens that match.
local function generate(self, text, n_prompt, n)
  local ids = prompt.tokenize(self, text)
  local have = self.session:tokens()
  local keep = 0
  while keep < #ids and keep < #have and ids[keep + 1] == have[keep + 1] do keep = keep + 1 end
  if keep == #ids then keep = keep - 1 end
  self.session:rewind(keep)
  local opts = {
    json_schema = self.reply_schema, strict = self.strict, max_tokens = self.n_ctx - n_prompt, seed = self.seed + n - 1,
    temperature = self.sampling.temperature, top_k = self.sampling.top_k, top_p = self.sampling.top_p,
    min_p = self.sampling.min_p, on_token = self.on_token,
  }
  return self.session:generate(table.move(ids, keep + 1, #ids, 1, {}), opts)
end

local function as_observation(value)
  if value == nil then return "Done." end
  if type(value) == "string" then return value end
  if type(value) == "table" then
    local ok, text = pcall(json.encode, value)
    if ok then return text end
  end
  return tostring(value)
end

local function error_text(err)
  if type(err) == "string" then return err end
  local ok, text = pcall(tostring, err)
  return ok and text or "(an error object that cannot be shown)"
end

local cut_off_causes = {
  max_tokens = "max tokens", context_full = "the context is full", cancelled = "cancelled",
  callback = "stopped by on_token", stop_string = "a stop string",
}

-- Parses and checks the reply, then acts on its command; fills step.observation.
function Agent:act(step, calls)
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
  local tool = self.tools[cmd.name]
  local ctx = { agent = self, step = step, model = self.model, workspace = self.workspace }
  local run_ok, value = pcall(tool.run, cmd.args, ctx)
  if run_ok then
    step.observation = as_observation(value)
  else
    -- "file.lua:12: " says where in the tool's code; the model needs only what went wrong.
    step.tool_error = error_text(value)
    step.observation = "Error: " .. step.tool_error:gsub("^[^\n]-:%d+: ", "", 1)
  end
  local cut
  step.observation, cut = prompt.cut_observation(self.model, step.observation, self.observation_tokens)
  step.observation_cut = cut or nil
end

local function result(self, status, reason, value)
  return { status = status, steps = self.steps, result = value, reason = reason, tokens_used = self.tokens_used }
end

--- Runs the loop until finish, a guard or max_steps; returns
-- {status = "done"|"max_steps"|"looping"|"aborted"|"error", steps = {...},
--  result = <finish's result when done>, reason = <why, otherwise>,
--  tokens_used = N}.
function Agent:run()
  if #self.tool_list == 0 and not self.with_finish then error("agent:run: no tools registered", 2) end
  if self.with_finish and not self.tools.finish then add_tool(self, finish_spec, "agent:run") end
  self.reply_schema = self:reply_schema_for()
  self.reply_tokens = self.user_reply_tokens or prompt.reply_estimate(self, 1.5)
  self.steps, self.tokens_used, self.ending, self.stop_request = {}, 0, nil, nil
  local calls = { run = 0 }
  for n = 1, self.max_steps do
    local text, n_prompt, summarised = prompt.fit(self, self.steps, n, self.n_ctx - self.reply_tokens)
    if not text then return result(self, "error", n_prompt) end
    -- A step starts only when its prompt and the reply it reserves fit in what is left.
    if self.token_budget and self.tokens_used + n_prompt + self.reply_tokens > self.token_budget then
      return result(self, "aborted", ("the token budget of %d tokens is used up (%d used; the next step needs "
        .. "%d for its prompt and %d for its reply)"):format(self.token_budget, self.tokens_used, n_prompt,
        self.reply_tokens))
    end
    local step = { n = n, prompt = text, prompt_tokens = n_prompt, summarised = summarised }
    local ok, reply, info = pcall(generate, self, text, n_prompt, n)
    if not ok then return result(self, "error", ("step %d: generation failed: %s"):format(n, error_text(reply))) end
    step.reply, step.generated_tokens, step.stop_reason = reply, info.n_generated, info.stop_reason
    step.complete = info.complete
    self.tokens_used = self.tokens_used + n_prompt + info.n_generated
    self:act(step, calls)
    self.steps[#self.steps + 1] = step
    if self.on_step then
      local hook_ok, verdict = pcall(self.on_step, step, self)
      if not hook_ok then return result(self, "error", "the on_step hook failed: " .. error_text(verdict)) end
      if verdict == false then self.stop_request = self.stop_request or "stopped by the on_step hook" end
    end
    if self.ending then return result(self, self.ending[1], self.ending[2], self.ending[3]) end
    if self.stop_request then return result(self, "aborted", self.stop_request) end
  end
  return result(self, "max_steps", ("the step limit of %d was reached"):format(self.max_steps))
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
