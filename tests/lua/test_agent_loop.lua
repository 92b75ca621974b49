-- test_agent_loop.lua — agents a game loop can drive, on stories260K
-- (512-token context): agent:poll's bounded work per call and its
-- agreement with agent:run, agent:step, tools that yield (from poll, from a
-- coroutine, from the main thread), on_token yielding, the history that
-- always shows the last observation, agent:prompt, tool specs with unknown
-- keys, tool results that cannot become text, agent:save/restore.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local tools = require "vkagent.tools"
local json = vkagent.json

local model = T.stories()

local note_spec = {
  name = "note", description = "Write a note.",
  params = { type = "object", properties = { text = { type = "string", maxLength = 20 } }, required = { "text" } },
  run = function(args) return "Noted: " .. args.text end,
}

local function scribe(o)
  local opts = { model = model, name = "Scribe", role = "a note keeper", goals = { "Keep notes about cats." },
                 max_steps = 3, seed = 7, finish = false, repeat_limit = false }
  for k, v in pairs(o or {}) do opts[k] = v end
  return Agent.new(opts)
end

local function replies(steps)
  local out = {}
  for i, s in ipairs(steps) do out[i] = s.reply end
  return out
end

T.test("agent:poll samples at most `tokens` per call and gives the same steps as agent:run", function()
  local a = scribe()
  a:tool(note_spec)
  local ref = a:run()
  T.eq(ref.status, "max_steps", tostring(ref.reason))

  local pieces_per_poll, polls, seen = {}, 0, {}
  local b = scribe{ on_token = function() pieces_per_poll[polls] = (pieces_per_poll[polls] or 0) + 1 end }
  b:tool(note_spec)
  T.eq(b:status(), "idle")
  local status, step
  repeat
    polls = polls + 1
    status, step = b:poll{ tokens = 3, prefill = 0 }
    if step then seen[#seen + 1] = step.n end
    T.ok(status == "running" or status == "max_steps", status)
    T.ok(polls < 2000, "the run ends")
  until status ~= "running"
  T.eq(b:status(), "max_steps")
  T.same(seen, { 1, 2, 3 }, "each step is returned once, by the poll that completed it")
  for p, n in pairs(pieces_per_poll) do T.ok(n <= 3, ("poll %d gave %d pieces"):format(p, n)) end
  local generated = 0
  for _, s in ipairs(b:result().steps) do generated = generated + s.generated_tokens end
  T.ok(polls >= generated // 3, ("%d polls for %d tokens"):format(polls, generated))
  T.same(replies(b:result().steps), replies(ref.steps), "same seed, same replies")
  T.eq(b:result().tokens_used, ref.tokens_used)
  -- once ended, polling again changes nothing
  T.eq(b:poll(), "max_steps")
  T.eq(#b:result().steps, 3)
end)

T.test("agent:poll feeds the prompt in chunks of `prefill` tokens", function()
  local a = scribe{ max_steps = 1 }
  a:tool(note_spec)
  local polls, status = 0, nil
  repeat
    polls = polls + 1
    status = a:poll{ tokens = 1000, prefill = 16 }
  until status ~= "running"
  local step = a:result().steps[1]
  -- ceil(prompt / 16) feeding polls, then the reply (all of it in one poll)
  T.eq(polls, (step.prompt_tokens + 15) // 16, "polls for " .. step.prompt_tokens .. " prompt tokens")
  T.eq(step.stop_reason, "grammar")
  T.raises("agent:poll: unknown option 'token'", a.poll, a, { token = 3 })
  T.raises("agent:poll: tokens must be a whole number >= 1", a.poll, a, { tokens = 0 })
  T.raises("agent:poll: prefill must be a whole number >= 0", a.poll, a, { prefill = -1 })
end)

T.test("agent:step returns each step and the run's status; run() goes on from there", function()
  local a = scribe{ max_steps = 3 }
  a:tool(note_spec)
  local s1, st1 = a:step()
  T.eq(s1.n, 1)
  T.eq(st1, "running")
  T.eq(type(s1.observation), "string")
  local r = a:run()   -- goes on with the same run
  T.eq(r.status, "max_steps")
  T.eq(#r.steps, 3)
  T.eq(r.steps[1], s1)
  local none, st = a:step()
  T.eq(none, nil)
  T.eq(st, "max_steps")
  T.eq(a:run().steps ~= r.steps, true, "run() after the end starts a new run")
end)

local function waiting_tool(log)
  return {
    name = "wait_bell", description = "Wait for the bell.",
    run = function()
      local got = { coroutine.yield("waiting for the bell") }
      log[#log + 1] = got[1] or "nothing"
      while not log.bell do coroutine.yield("still waiting") end
      return "The bell rang."
    end,
  }
end

T.test("a tool that yields waits across polls and is resumed by them", function()
  local log = {}
  local a = scribe{ max_steps = 2 }
  a:tool(waiting_tool(log))
  local status, step
  repeat status, step = a:poll{ tokens = 50 } until status ~= "running"
  T.eq(status, "waiting")
  T.eq(step, nil, "no step was completed")
  T.eq(a:status(), "waiting")
  step = a:current()
  T.eq(step.waiting, "waiting for the bell")
  T.eq(#a.steps, 0, "the waiting step is not in the history yet")
  for _ = 1, 5 do T.eq((a:poll()), "waiting") end
  T.eq(step.waiting, "still waiting")
  log.bell = true
  status, step = a:poll()
  T.eq(status, "running")
  T.eq(step.n, 1)
  T.eq(step.observation, "The bell rang.")
  T.eq(step.waiting, nil)
  T.eq(log[1], "nothing", "a poll resumes the tool with no values")
  -- agent:stop while a tool waits ends the run at the next poll
  log.bell = false
  repeat status = a:poll{ tokens = 50 } until status ~= "running"
  T.eq(status, "waiting")
  a:stop("the level ended")
  status, step = a:poll()
  T.eq(status, "aborted")
  T.eq(a:result().reason, "the level ended")
  T.eq(#a.steps, 2)
  T.eq(a.steps[2].tool_error, "the run was stopped while the tool was waiting")
end)

T.test("agent:run inside a coroutine: a tool's yields pass through; on_token may yield too", function()
  local log = { bell = true }
  local a = scribe{ max_steps = 2 }
  a:tool(waiting_tool(log))
  local co = coroutine.create(function() return a:run() end)
  local ok, v = coroutine.resume(co)
  T.eq(ok, true)
  T.eq(v, "waiting for the bell")
  ok, v = coroutine.resume(co, "ding")
  T.eq(ok, true)
  T.eq(v, "waiting for the bell", "the second step's tool")
  ok, v = coroutine.resume(co, "dong")
  T.eq(ok, true)
  T.eq(v.status, "max_steps", tostring(v.reason))
  T.same(log, { "ding", "dong", bell = true })

  -- on_token yielding (before, "attempt to yield across a C-call boundary")
  local b = scribe{ max_steps = 1, on_token = function(piece) coroutine.yield(piece) end }
  b:tool(note_spec)
  local pieces, text = 0, {}
  local co2 = coroutine.wrap(function() return b:run() end)
  local r = co2()
  while type(r) == "string" do
    pieces, text[#text + 1] = pieces + 1, r
    r = co2()
  end
  T.eq(r.status, "max_steps", tostring(r.reason))
  T.eq(table.concat(text), r.steps[1].reply)
  T.ok(pieces > 10)
end)

T.test("outside a coroutine: step() returns 'waiting'; run() ends with an error that says what to do", function()
  local log = {}
  local a = scribe{ max_steps = 1 }
  a:tool(waiting_tool(log))
  local step, status = a:step()
  T.eq(status, "waiting")
  T.eq(step.waiting, "waiting for the bell")
  log.bell = true
  step, status = a:step()
  T.eq(status, "max_steps")
  T.eq(step.observation, "The bell rang.")

  local b = scribe{ max_steps = 2 }
  b:tool(waiting_tool({}))
  local r = b:run()
  T.eq(r.status, "error")
  T.contains(r.reason, "step 1: the tool 'wait_bell' yielded, but agent:run() was not called from a coroutine")
  T.contains(r.reason, "HINT: advance the agent with agent:poll()")
  T.eq(#r.steps, 1)
end)

T.test("on a 512-token model every step sees the previous observation; agent:prompt shows the next prompt", function()
  local a = Agent.new{ model = model, name = "Teller", role = "a storyteller",
    goals = { "Write a short story about a cat into story.txt." }, constraints = { "Add one part at a time." },
    max_steps = 8, seed = 1, finish = false, repeat_limit = false }
  a:tool(tools.files{ root = T.tmpdir("loop-history") })
  local first = a:prompt()
  T.contains(first, "You are Teller")
  local r
  repeat
    local next_prompt, n_tokens = a:prompt()
    local step, status = a:step()
    T.eq(step.prompt, next_prompt, "agent:prompt() is the prompt the step then uses")
    T.eq(step.prompt_tokens, n_tokens)
    T.ok(step.prompt_tokens + step.generated_tokens <= 512)
    if step.n > 1 then
      local prev = a.steps[step.n - 1]
      local head = prev.observation:gsub("%s+", " "):sub(1, 24)
      T.contains(step.prompt, ("%d. "):format(prev.n), "step " .. step.n .. " shows step " .. prev.n)
      T.contains(step.prompt, head, "step " .. step.n .. " sees the previous observation")
      T.eq(step.omitted, step.summarised)
      if step.omitted > 0 then
        T.contains(step.prompt, ("(%d earlier step%s omitted"):format(step.omitted, step.omitted == 1 and "" or "s"))
      end
    end
    r = status
  until r ~= "running"
  T.eq(r, "max_steps")
  local omitted = 0
  for _, s in ipairs(a.steps) do omitted = math.max(omitted, s.omitted) end
  T.ok(omitted > 0, "the run was long enough to drop history")
end)

T.test("tool specs with unknown keys are refused, naming the key", function()
  local a = scribe()
  T.raises("agent:tool: tool 'note': unknown key 'parameters' (a tool spec has name, description, params and run)",
    a.tool, a, { name = "note", run = function() end, parameters = {} })
  T.raises("unknown key 'desc'", a.tool, a, { { name = "x", run = function() end, desc = "typo" } })
  T.eq(a.tools.x, nil)
end)

T.test("tool results that cannot become text are error observations naming their type", function()
  local cyclic = {}
  cyclic.self = cyclic
  local err_obj = setmetatable({}, { __tostring = function() return "door is locked" end })
  local results = {
    function() return print end,
    function() return { 1, nil, 3 } end,
    function() return cyclic end,
    function() return model end,
    function() error({ code = 7 }) end,
    function() error(err_obj) end,
    function() error({ 1, nil, 3 }) end,
    function() return coroutine.create(print) end,
    function() return 42 end,
  }
  local i = 0
  local a = scribe{ max_steps = #results, observation_tokens = 200 }
  a:tool({ name = "odd", description = "Do it.", run = function()
    i = i + 1
    return results[i]()
  end })
  local r = a:run()
  T.eq(#r.steps, #results, tostring(r.reason))
  local obs = {}
  for k, s in ipairs(r.steps) do obs[k] = s.observation end
  T.eq(obs[1], "Error: the tool returned a function, which cannot become text")
  T.contains(obs[2], "Error: the tool returned a table that cannot become text: an array has holes")
  T.contains(obs[3], "Error: the tool returned a table that cannot become text: ")
  T.eq(obs[4], "Error: the tool returned a userdata (vkagent.model), which cannot become text")
  T.eq(obs[5], 'Error: an error object {"code":7}')
  T.eq(obs[6], "Error: door is locked")
  T.eq(obs[7], "Error: an error value that cannot be shown (a table)")
  T.eq(obs[8], "Error: the tool returned a thread, which cannot become text")
  T.eq(obs[9], "42")
  for k = 1, 8 do T.eq(type(r.steps[k].tool_error), "string", "step " .. k) end
end)

T.test("agent:save and agent:restore go on with a run in a new agent, through JSON", function()
  local a = scribe{ max_steps = 4 }
  a:tool(note_spec)
  a:step()
  a:step()
  -- a step half done is not saved: the restored agent does it again
  repeat until a:poll{ tokens = 5 } ~= "running" or a.run_state.phase == "generate"
  local text = json.encode(a:save())
  local next_prompt = a:prompt()
  local b = scribe{ max_steps = 4 }
  b:tool(note_spec)
  b:restore(text)
  T.eq(#b.steps, 2)
  T.eq(b:status(), "running")
  T.eq(b:prompt(), next_prompt, "the restored agent's next prompt is the same")
  local r = b:run()
  T.eq(r.status, "max_steps")
  T.eq(#r.steps, 4)
  T.eq(r.steps[3].n, 3)
  T.ok(r.tokens_used > a.steps[1].prompt_tokens + a.steps[2].prompt_tokens)
  -- an ended run stays ended
  local c = scribe{ max_steps = 4 }
  c:tool(note_spec)
  c:restore(json.decode(json.encode(b:save())))
  T.eq(c:status(), "max_steps")
  T.eq(#c:result().steps, 4)
  T.raises("agent:restore: expected a table from agent:save", c.restore, c, { steps = {} })
  T.raises("format version 9", c.restore, c, { format = "vkagent.agent", version = 9 })
end)

T.done()
