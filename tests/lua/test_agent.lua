-- test_agent.lua — the agent loop on stories260K (512-token context): runs of
-- 10+ steps at three seeds whose every command parses, names a registered
-- tool and has schema-valid args; tools that throw; the approval veto; the
-- step limit, repeat guard, token budget and hooks; context never overflows;
-- a reply cut off before its end runs nothing; the agent's own schemas are
-- closed (additionalProperties = false); vkagent.schema.validate.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local tools = require "vkagent.tools"
local schema = require "vkagent.schema"
local prompt = require "vkagent.prompt"
local json = vkagent.json

local model = T.stories()
local N_CTX = 512

-- The checks every step of every run must pass, done here independently of
-- the agent's own parsing: the reply parses, names a registered tool, its
-- args follow that tool's schema, and prompt + reply fit the context.
local function check_steps(agent, result, registered)
  for _, step in ipairs(result.steps) do
    local where = ("step %d"):format(step.n)
    local ok, reply = pcall(json.decode, step.reply)
    T.ok(ok, where .. ": the reply parses: " .. tostring(reply) .. " in " .. step.reply)
    T.eq(type(reply.command), "table", where)
    local spec = registered[reply.command.name]
    T.ok(spec ~= nil, where .. ": '" .. tostring(reply.command.name) .. "' is a registered tool")
    local valid, why = schema.validate(reply.command.args, spec.params)
    T.ok(valid, where .. ": args follow the tool's schema: " .. tostring(why))
    for _, k in ipairs({ "text", "reasoning", "plan", "criticism" }) do
      T.eq(type(reply.thoughts[k]), "string", where .. " thoughts." .. k)
    end
    T.same(step.command, reply.command, where .. " command")
    -- context: counted again with the tokenizer
    T.eq(#model:tokenize(step.prompt), step.prompt_tokens, where .. " prompt tokens")
    T.ok(step.prompt_tokens + step.generated_tokens <= N_CTX,
      ("%s: %d prompt + %d generated tokens fit in %d"):format(where, step.prompt_tokens, step.generated_tokens, N_CTX))
    T.eq(step.stop_reason, "grammar", where .. ": the reply ended where the schema ends")
    T.contains(step.prompt, agent.goals[1], where .. ": the goal is always in the prompt")
    T.eq(type(step.observation), "string", where)
  end
end

local function registered_of(agent)
  local t = {}
  for _, tool in ipairs(agent.tool_list) do t[tool.name] = tool end
  return t
end

T.test("10-step runs at three seeds: valid commands, thrown errors become observations", function()
  local tool_errors, names_used = 0, {}
  for _, seed in ipairs({ 1, 2, 3 }) do
    local root = T.tmpdir("agent" .. seed)
    local agent = Agent.new{
      model = model, name = "Scribe", role = "a careful note keeper",
      goals = { "Keep notes about cats in notes.txt." }, constraints = { "One tool per step." },
      max_steps = 10, seed = seed, finish = false, repeat_limit = false,
    }
    agent:tool(tools.files{ root = root })
    agent:tool(tools.calculator())
    agent:tool({
      name = "weather", description = "Get the weather.",
      params = { type = "object", properties = { city = { type = "string", maxLength = 16 } }, required = { "city" } },
      run = function() error("the weather service is down") end,
    })
    local result = agent:run()
    T.eq(result.status, "max_steps", "seed " .. seed .. ": " .. tostring(result.reason))
    T.eq(#result.steps, 10, "seed " .. seed)
    check_steps(agent, result, registered_of(agent))
    for i, step in ipairs(result.steps) do
      names_used[step.command.name] = true
      if step.tool_error then
        tool_errors = tool_errors + 1
        T.contains(step.observation, "Error: ", "seed " .. seed)
        if step.command.name == "weather" then T.contains(step.observation, "the weather service is down") end
        if i < #result.steps then T.ok(result.steps[i + 1].prompt:find("Error:", 1, true) ~= nil or
          result.steps[i + 1].summarised > 0, "the error is shown to the model") end
      end
    end
    T.ok(result.tokens_used > 0)
    T.rmtree(root)
  end
  T.ok(tool_errors > 0, "some calls raised errors and the runs went on")
  local n_names = 0
  for _ in pairs(names_used) do n_names = n_names + 1 end
  T.ok(n_names >= 2, "at least two different tools were called")
end)

T.test("a tool that always throws: every observation is its error, the run continues", function()
  local runs = 0
  local agent = Agent.new{ model = model, goals = { "Try the tool." }, max_steps = 4, finish = false,
                           repeat_limit = false, seed = 5 }
  agent:tool({ name = "boom", description = "Explode.",
    params = { type = "object", properties = { what = { type = "string", maxLength = 10 } }, required = { "what" } },
    run = function(args)
      runs = runs + 1
      error("boom: cannot explode " .. args.what, 0)
    end })
  local result = agent:run()
  T.eq(result.status, "max_steps")
  T.eq(#result.steps, 4)
  T.eq(runs, 4)
  for _, step in ipairs(result.steps) do
    T.eq(step.tool_error, "boom: cannot explode " .. step.command.args.what)
    T.eq(step.observation, "Error: boom: cannot explode " .. step.command.args.what)
  end
  check_steps(agent, result, registered_of(agent))
end)

T.test("the approve hook vetoes calls; the refusal is the observation", function()
  local ran, asked = 0, {}
  local agent = Agent.new{ model = model, goals = { "Write notes." }, max_steps = 3, seed = 9, repeat_limit = false,
    approve = function(command, step, self)
      asked[#asked + 1] = command.name
      assert(step.n == #asked and self.max_steps == 3)
      return false, "a human said no to " .. command.name
    end }
  agent:tool({ name = "note", description = "Write a note.",
    params = { type = "object", properties = { text = { type = "string", maxLength = 20 } }, required = { "text" } },
    run = function() ran = ran + 1 end })
  local result = agent:run()
  T.eq(ran, 0, "no vetoed call ran")
  T.eq(#asked, #result.steps)
  for _, step in ipairs(result.steps) do
    T.eq(step.vetoed, true)
    T.eq(step.observation, "Vetoed: a human said no to " .. step.command.name)
  end
  T.eq(result.status, "max_steps")   -- a vetoed finish does not end the run either
end)

T.test("the step limit ends the run with max_steps", function()
  local agent = Agent.new{ model = model, goals = { "Count." }, max_steps = 2, finish = false, seed = 4,
                           repeat_limit = false }
  agent:tool(tools.calculator())
  local result = agent:run()
  T.eq(result.status, "max_steps")
  T.eq(#result.steps, 2)
  T.eq(result.reason, "the step limit of 2 was reached")
end)

T.test("the same call again is not run; repeat_limit in a row ends the run as looping", function()
  local pings = 0
  local agent = Agent.new{ model = model, goals = { "Ping." }, max_steps = 10, finish = false, repeat_limit = 3 }
  agent:tool({ name = "ping", description = "Ping.", params = { type = "object", properties = {} },
    run = function()
      pings = pings + 1
      return "pong"
    end })
  local result = agent:run()
  T.eq(result.status, "looping")
  T.eq(#result.steps, 3)
  T.eq(pings, 1)
  T.eq(result.steps[1].observation, "pong")
  T.contains(result.steps[2].observation, "Repeated call: this is the same ping call as the step before (2 in a row)")
  T.contains(result.steps[3].prompt, "Repeated call", "the model is told")
  T.contains(result.reason, "the same call (ping) was made 3 times in a row")
end)

T.test("finish ends the run with its result", function()
  local agent = Agent.new{ model = model, goals = { "Finish at once." }, max_steps = 3, seed = 1 }
  local result = agent:run()     -- only the built-in finish tool
  T.eq(result.status, "done")
  T.eq(#result.steps, 1)
  T.eq(result.steps[1].command.name, "finish")
  T.eq(result.result, result.steps[1].command.args.result)
  T.eq(type(result.result), "string")
end)

T.test("token budget, on_step and agent:stop end the run as aborted", function()
  local a1 = Agent.new{ model = model, goals = { "Count." }, finish = false, repeat_limit = false, token_budget = 600 }
  a1:tool(tools.calculator())
  local r1 = a1:run()
  T.eq(r1.status, "aborted")
  T.eq(#r1.steps, 1)
  T.contains(r1.reason, "the token budget of 600 tokens is used up")
  T.ok(r1.tokens_used <= 600)

  local seen = {}
  local a2 = Agent.new{ model = model, goals = { "Count." }, finish = false, repeat_limit = false,
    on_step = function(step) seen[#seen + 1] = step.n return step.n < 2 end }
  a2:tool(tools.calculator())
  local r2 = a2:run()
  T.eq(r2.status, "aborted")
  T.same(seen, { 1, 2 })
  T.eq(r2.reason, "stopped by the on_step hook")

  local a3 = Agent.new{ model = model, goals = { "Count." }, finish = false, repeat_limit = false }
  a3:tool({ name = "halt", description = "Stop.", params = { type = "object", properties = {} },
    run = function(_, ctx)
      ctx.agent:stop("the tool asked to stop")
      return "stopping"
    end })
  local r3 = a3:run()
  T.eq(r3.status, "aborted")
  T.eq(r3.reason, "the tool asked to stop")

  local a4 = Agent.new{ model = model, goals = { "Count." }, finish = false, on_step = function() error("hook bug") end }
  a4:tool(tools.calculator())
  local r4 = a4:run()
  T.eq(r4.status, "error")
  T.contains(r4.reason, "the on_step hook failed: ")
  T.contains(r4.reason, "hook bug")
end)

T.test("long observations are cut to their share of the context, with a note", function()
  local agent = Agent.new{ model = model, goals = { "Read." }, max_steps = 2, finish = false, repeat_limit = false,
                           observation_tokens = 40 }
  agent:tool({ name = "dump", description = "Dump.", params = { type = "object", properties = {} },
    run = function() return ("word "):rep(500) end })
  local result = agent:run()
  for _, step in ipairs(result.steps) do
    T.eq(step.observation_cut, true)
    T.contains(step.observation, "[...cut: ")
    T.ok(#model:tokenize(step.observation, { bos = false }) <= 40, "within 40 tokens")
  end
  check_steps(agent, result, registered_of(agent))
end)

T.test("older steps are summarised so the prompt fits; the goal is kept", function()
  local agent = Agent.new{ model = model, goals = { "Keep going." }, max_steps = 12, finish = false,
                           repeat_limit = false, seed = 21 }
  agent:tool(tools.calculator())
  agent:tool(tools.memory{ path = T.tmpdir("mem") .. "/memory.json" })
  local result = agent:run()
  T.eq(#result.steps, 12)
  local summarised = 0
  for _, step in ipairs(result.steps) do
    if step.summarised > 0 then
      summarised = summarised + 1
      T.contains(step.prompt, ("(%d earlier step"):format(step.summarised))
    end
  end
  T.ok(summarised > 0, "some prompts summarised older steps")
  check_steps(agent, result, registered_of(agent))
end)

T.test("the prompt describes the tools and their arguments", function()
  local agent = Agent.new{ model = model, goals = { "G." }, prompt_style = "full" }
  agent:tool({ name = "count", description = "Count things.", params = { type = "object", properties = json.object({
    what = { type = "string" }, n = { type = "integer", minimum = 1, maximum = 9 } }, { "what", "n" }),
    required = { "what" } }, run = function() end })
  local full = prompt.header(agent)
  T.contains(full, "- count: Count things.")
  T.contains(full, '"n":{"maximum":9,"minimum":1,"type":"integer"}')
  agent.prompt_style = "compact"
  T.contains(prompt.header(agent), "count(what, n?: integer 1..9): Count things.")
end)

T.test("with a chat template the prompt is a system and a user message, counted with special tokens", function()
  local path = T.fixture("fixtures/vocab/qwen3.gguf")
  if not path then
    print("# skipped: " .. select(2, T.fixture("fixtures/vocab/qwen3.gguf")))
    return
  end
  local qwen = vkagent.load(path, { vocab_only = true })
  T.eq(qwen:info().chat_template_recognised, true)
  -- Agent.new needs a session, which a vocab-only model cannot have: fit the prompt of an agent-shaped table.
  local a = { model = qwen, chat_template = true, name = "Helper", role = "a helper", goals = { "Help." },
              constraints = {}, tool_list = {}, prompt_style = "compact", history = 4, history_call_chars = 40,
              n_ctx = 4096, reply_tokens = 300 }
  local steps = { { n = 1, command = { name = "note", args = { text = "hi" } }, observation = "ok" } }
  local text, n_tokens = prompt.fit(a, steps, 2, 1000)
  T.eq(text:sub(1, 30), "<|im_start|>system\nYou are Hel")
  T.contains(text, "<|im_end|>\n<|im_start|>user\n1. note {\"text\":\"hi\"} -> ok\nStep 2 (now): reply with JSON.\n")
  T.contains(text, "<|im_start|>assistant\n<think>\n\n</think>\n\n")   -- Qwen3 with thinking off
  T.eq(n_tokens, #qwen:tokenize(text, { special = true, bos = false }))
  T.eq(qwen:tokenize(text, { special = true, bos = false })[1], qwen:tokenize("<|im_start|>", { special = true, bos = false })[1])
end)

T.test("Agent.new and agent:tool check their arguments", function()
  T.raises("Agent.new: expected a table of options, got nil", Agent.new)
  T.raises("Agent.new: option 'model' must be a model from vkagent.load", Agent.new, { goals = { "x" } })
  T.raises("Agent.new: unknown option 'goal'", Agent.new, { model = model, goal = "x" })
  T.raises("Agent.new: give at least one goal", Agent.new, { model = model })
  T.raises("Agent.new: goals[1] must be a string", Agent.new, { model = model, goals = { 5 } })
  T.raises("Agent.new: option 'max_steps' must be a number, got string", Agent.new,
    { model = model, goals = { "x" }, max_steps = "3" })
  T.raises("Agent.new: prompt_style must be \"compact\" or \"full\"", Agent.new,
    { model = model, goals = { "x" }, prompt_style = "tiny" })
  local a = Agent.new{ model = model, goals = { "x" } }
  local run = function() end
  T.raises("agent:tool: tool name must be a word", a.tool, a, { name = "two words", run = run })
  T.raises("agent:tool: tool 't' has no run function", a.tool, a, { name = "t" })
  T.raises("agent:tool: 'finish' is built in", a.tool, a, { name = "finish", run = run })
  T.raises("params must be a JSON schema of an object", a.tool, a, { name = "t", run = run, params = { type = "string" } })
  T.raises("agent:tool: tool 't': schema at #/properties/p: a schema must be a table or a boolean", a.tool, a,
    { name = "t", run = run, params = { type = "object", properties = { p = 5 } } })
  T.raises("schema at #/required/0: must be a string", a.tool, a, { name = "t", run = run,
    params = { type = "object", required = { 5 } } })
  T.raises("schema at #/properties/n/type: unknown type 'int'", a.tool, a, { name = "t", run = run,
    params = { type = "object", properties = { n = { type = "int" } } } })
  T.raises("Agent.new: option 'strict' must be a boolean, got number", Agent.new,
    { model = model, goals = { "x" }, strict = 1 })
  -- keywords the converter judges (pattern, format, annotations) pass registration
  a:tool({ name = "p", run = run, params = { type = "object", properties = {
    p = { type = "string", pattern = "^[a-z]+$", ["x-note"] = "an annotation" } } } })
  a:tool({ name = "t", run = run })
  T.raises("agent:tool: a tool named 't' is already registered", a.tool, a, { name = "t", run = run })
end)

-- Replies cut off before the schema's end: by max_tokens (a context with
-- room for only a few reply tokens) and by on_token returning false.
T.test("a reply cut off before its end runs no tool and says why", function()
  local runs = 0
  local spec = { name = "note", description = "Write a note.",
    params = { type = "object", properties = { text = { type = "string", maxLength = 20 } }, required = { "text" } },
    run = function() runs = runs + 1 return "noted" end }
  local probe = Agent.new{ model = model, goals = { "Write notes." }, finish = false }
  probe:tool(spec)
  local _, n_prompt = prompt.fit(probe, {}, 1, N_CTX)
  local tight = Agent.new{ model = model, goals = { "Write notes." }, finish = false, max_steps = 1,
                           n_ctx = n_prompt + 6, reply_tokens = 6 }
  tight:tool(spec)
  local r1 = tight:run()
  T.eq(#r1.steps, 1, tostring(r1.reason))
  local step = r1.steps[1]
  T.eq(step.prompt_tokens, n_prompt)
  T.eq(step.stop_reason, "max_tokens")
  T.eq(step.complete, false)
  T.eq(step.generated_tokens, 6)
  T.eq(step.command, nil)
  T.contains(step.error, "the reply was cut off before the tool call was complete (max tokens); no tool was run")
  T.contains(step.observation, "Your reply was cut off before the command was complete, so nothing was run.")
  T.contains(Agent.format_step(step), "  no call:   the reply was cut off before the tool call was complete")
  T.eq(r1.status, "max_steps")

  local pieces = 0
  local hooked = Agent.new{ model = model, goals = { "Write notes." }, finish = false, max_steps = 2,
    repeat_limit = false, on_token = function()
      pieces = pieces + 1
      return pieces % 12 ~= 0
    end }
  hooked:tool(spec)
  local r2 = hooked:run()
  T.eq(#r2.steps, 2)
  for _, st in ipairs(r2.steps) do
    T.eq(st.stop_reason, "callback")
    T.eq(st.complete, false)
    T.contains(st.error, "(stopped by on_token)")
  end
  T.contains(r2.steps[2].prompt, "cut off", "the model is told")
  T.eq(runs, 0, "no tool ran from a cut-off reply")
end)

T.test("the agent's own schemas say additionalProperties = false", function()
  local agent = Agent.new{ model = model, goals = { "G." } }
  agent:tool(tools.files{ root = T.tmpdir("closed") })
  agent:tool(tools.calculator())
  agent:tool(tools.lua_eval())
  agent:tool(tools.memory{ path = T.tmpdir("closed-mem") .. "/m.json" })
  agent:tool({ name = "bare", run = function() end })   -- no params: an empty, closed object
  agent.max_steps = 1
  agent:run()
  local s = agent.reply_schema
  T.eq(s.additionalProperties, false)
  T.eq(s.properties.thoughts.additionalProperties, false)
  local names = {}
  for _, alt in ipairs(s.properties.command.oneOf) do
    T.eq(alt.additionalProperties, false, alt.properties.name.const)
    T.eq(alt.properties.args.additionalProperties, false, alt.properties.name.const .. " args")
    T.eq(alt.properties.args.type, "object")
    names[#names + 1] = alt.properties.name.const
  end
  T.eq(#names, 10, table.concat(names, " "))   -- 4 files, calculate, lua_eval, remember, recall, bare, finish
  -- generated under strict (the default), a user tool without additionalProperties gets only its members
  local user = Agent.new{ model = model, goals = { "G." }, finish = false, max_steps = 1 }
  user:tool({ name = "open", params = { type = "object", properties = { a = { type = "string", maxLength = 5 } } },
    run = function() end })
  local r = user:run()
  local args = json.decode(r.steps[1].reply).command.args
  for k in pairs(args) do T.eq(k, "a", "only the declared member") end
end)

T.test("vkagent.schema.validate: the standard's defaults; strict closes objects", function()
  local obj = { type = "object", properties = { a = { type = "integer" } }, required = { "a" } }
  T.eq(schema.validate({ a = 1, b = "x" }, obj), true)   -- additionalProperties defaults to true
  local ok, why = schema.validate({ a = 1, b = "x" }, obj, { strict = true })
  T.eq(ok, false)
  T.eq(why, "$: unexpected member 'b'")
  T.eq(schema.validate({ a = 1, b = 2 }, { type = "object", properties = { a = {} }, additionalProperties = true },
    { strict = true }), true)
  T.eq(select(2, schema.validate({ a = "1" }, obj)), "$.a: must be integer, got string")
  T.eq(select(2, schema.validate({}, obj)), "$: missing required member 'a'")
  -- no type: properties constrain objects only
  T.eq(schema.validate("text", { properties = { a = { type = "integer" } } }), true)
  -- combinators
  T.eq(schema.validate(5, { allOf = { { minimum = 1 }, { maximum = 9 } } }), true)
  T.eq(schema.validate(10, { allOf = { { minimum = 1 }, { maximum = 9 } } }), false)
  T.eq(select(2, schema.validate(3, { oneOf = { { type = "integer" }, { minimum = 0 } } })),
    "$: matches 2 of oneOf, not one")
  T.eq(schema.validate(3, { oneOf = { { type = "integer" }, { minimum = 0 } } }, { oneof_as_anyof = true }), true)
  T.eq(schema.validate("x", { ["not"] = { type = "integer" } }), true)
  T.eq(schema.validate(2, { ["not"] = { type = "integer" } }), false)
  T.eq(schema.validate(4, { ["if"] = { minimum = 3 }, ["then"] = { multipleOf = 2 }, ["else"] = { maximum = 1 } }), true)
  T.eq(schema.validate(5, { ["if"] = { minimum = 3 }, ["then"] = { multipleOf = 2 } }), false)
  T.eq(schema.validate(2, { ["if"] = { minimum = 3 }, ["else"] = { maximum = 1 } }), false)
  -- numbers, strings, objects, arrays
  T.eq(schema.validate(7.5, { multipleOf = 2.5 }), true)
  T.eq(schema.validate(7, { multipleOf = 2 }), false)
  T.eq(schema.validate(3, { exclusiveMinimum = 3 }), false)
  T.eq(schema.validate(3, { minimum = 3, exclusiveMinimum = true }), false)   -- draft 4
  T.eq(schema.validate("héé", { maxLength = 3 }), true)                       -- code points
  T.eq(schema.validate({ a = 1 }, { minProperties = 2 }), false)
  T.eq(schema.validate({ a = 1, b = 2 }, { maxProperties = 1 }), false)
  T.eq(schema.validate({ a = 1 }, { dependentRequired = { a = { "b" } } }), false)
  T.eq(schema.validate({ a = 1 }, { dependencies = { a = { "b" } } }), false)
  T.eq(schema.validate({ a = 1 }, { dependencies = { a = { required = { "c" } } } }), false)
  T.eq(schema.validate({ abc = 1 }, { propertyNames = { maxLength = 2 } }), false)
  T.eq(schema.validate(json.decode("[1,2,1]"), { uniqueItems = true }), false)
  T.eq(schema.validate(json.decode("[1,\"a\"]"), { contains = { type = "string" } }), true)
  T.eq(schema.validate(json.decode("[1,2]"), { contains = { type = "string" } }), false)
  T.eq(schema.validate(json.decode("[1,\"a\",true]"), { prefixItems = { { type = "integer" } }, items = { type = "string" } }),
    false)
  T.eq(schema.validate(json.decode("[1,\"a\"]"), { items = { { type = "integer" } }, additionalItems = false }), false)
  -- $ref: pointers, $anchor, $id
  local defs = { ["$defs"] = { pos = { ["$anchor"] = "positive", type = "integer", minimum = 1 },
                               other = { ["$id"] = "other.json", type = "string" } } }
  for ref, good in pairs({ ["#/$defs/pos"] = 2, ["#positive"] = 2, ["other.json"] = "s" }) do
    local s = schema.copy(defs)
    s["$ref"] = ref
    T.eq(schema.validate(good, s), true, ref)
    T.eq(schema.validate(0, s), false, ref)
  end
  T.raises("schema: $ref '#' at $ nests too deep", schema.validate, 1, { ["$ref"] = "#" })
  T.raises("schema: $ref '#/$defs/none' points nowhere", schema.validate, 1, { ["$ref"] = "#/$defs/none" })
  -- not checked in Lua (the grammar enforces them), never a wrong rejection
  T.eq(schema.validate("abc", { type = "string", pattern = "^[0-9]+$", format = "date" }), true)
  T.eq(schema.validate({ x1 = 1 }, { type = "object", patternProperties = { ["^x"] = { type = "string" } },
    additionalProperties = false }), true)
  T.eq(schema.validate(1, { ["x-kubernetes-group-version-kind"] = {}, example = 5, type = "integer" }), true)
end)

T.done()
