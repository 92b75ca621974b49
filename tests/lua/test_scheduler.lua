-- test_scheduler.lua — vkagent.scheduler: sessions drawing from one KV
-- pool, streams and agents advanced together by scheduler:step(), the same
-- text alone and batched, lifetimes in any order, and errors.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"

local model = T.stories()

local prompts = { 'The baker smiled and said, "', "Once upon a time", "Lily and Tom" }
local function opts_for(i) return { seed = 10 + i, temperature = 0.9, max_tokens = 30 } end

-- Each prompt in a session of its own, stepping itself.
local function alone(i)
  local s = model:session()
  local st = s:stream(prompts[i], opts_for(i))
  while st:next() do end
  local text = st:text()
  s:close()
  return text
end

T.test("streams of a scheduler advance together, with the text they get alone", function()
  local sched = vkagent.scheduler(model, { kv_tokens = 2048, batch = 256, seqs = 8 })
  local sessions, streams, got = {}, {}, {}
  for i = 1, #prompts do
    sessions[i] = sched:session{ n_ctx = 256 }
    T.ok(sessions[i]:batched(), "a session of the scheduler is batched")
    T.eq(sessions[i]:scheduler(), sched)
    streams[i] = sessions[i]:stream(prompts[i], opts_for(i))
    got[i] = ""
  end
  local steps, active = 0, #prompts
  repeat
    -- next() does not step a batched stream: nothing arrives before step()
    if steps == 0 then T.eq(streams[1]:next(), "", "nothing before the first step") end
    active = sched:step()
    steps = steps + 1
    for i, st in ipairs(streams) do
      local piece = st:next()
      if piece then got[i] = got[i] .. piece end
    end
  until active == 0
  local tokens = 0
  for i, st in ipairs(streams) do
    T.eq(st:next(), nil, "drained")
    T.ok(st:done())
    local info = st:result()
    tokens = tokens + info.n_generated
    T.ok(#got[i] > 0, "stream " .. i .. " got text")
    T.eq(got[i], st:text())
    T.eq(got[i], alone(i), "stream " .. i .. ": the same text alone and batched")
  end
  local stats = sched:stats()
  T.eq(stats.n_sessions, #prompts)
  T.eq(stats.n_active, 0)
  T.eq(stats.block_tokens, 32)
  T.ok(stats.steps < tokens, ("%d forward passes for %d tokens"):format(stats.steps, tokens))
  T.ok(stats.batch_tokens >= tokens)
  local kv = sessions[1]:kv_info()
  T.ok(kv.blocks > 0 and kv.tokens > 0 and kv.blocks_shared >= 0, "kv_info")
  T.eq(sched:step(), 0, "a step with nothing to do")
  -- the sessions work as any session: generate runs one alone
  local text = sessions[2]:generate(" Then", { temperature = 0, max_tokens = 5 })
  T.ok(type(text) == "string")
  for _, s in ipairs(sessions) do s:close() end
  sched:close()
end)

T.test("agents on a scheduler: polled each frame, one step per frame", function()
  local sched = vkagent.scheduler(model)
  local agents = {}
  for i = 1, 3 do
    local a = Agent.new{ model = model, name = "NPC" .. i, goals = { "Say hello." }, max_steps = 1, seed = i,
                         finish = false, repeat_limit = false, session = sched:session() }
    a:tool{ name = "say", description = "Say something.",
            params = { type = "object", properties = { text = { type = "string", maxLength = 20 } },
                       required = { "text" } },
            run = function(args) return "said " .. args.text end }
    agents[i] = a
  end
  T.raises("agent:step: the agent's session belongs to a scheduler", function() agents[1]:step() end)
  local frames = 0
  repeat
    local running = 0
    for _, a in ipairs(agents) do
      local status = a:poll()
      if status == "running" or status == "waiting" then running = running + 1 end
    end
    sched:step()
    frames = frames + 1
  until running == 0 or frames > 3000
  local tokens = 0
  for _, a in ipairs(agents) do
    local r = a:result()
    T.eq(r.status, "max_steps", a.name)
    T.ok(r.steps[1].generated_tokens > 0, a.name .. " generated")
    tokens = tokens + r.steps[1].generated_tokens
  end
  T.ok(sched:stats().steps < tokens, "the agents' replies shared forward passes")
end)

T.test("lifetimes: scheduler, sessions and streams closed or collected in any order", function()
  local sched = vkagent.scheduler(model, { kv_tokens = 512 })
  local s = sched:session()
  local st = s:stream("Once", { max_tokens = 3, temperature = 0 })
  sched:step()
  sched:close()
  sched:close()   -- twice is fine
  T.raises("scheduler:step: the scheduler is closed", function() sched:step() end)
  T.raises("scheduler:session: the scheduler is closed", function() sched:session() end)
  T.raises("scheduler:stats: the scheduler is closed", function() sched:stats() end)
  T.ok(not s:batched(), "its scheduler closed, the session steps alone")
  while st:next() do end   -- finishes alone
  T.ok(st:done())
  s:close()
  -- collected with everything open: no crash, whatever the order
  for _ = 1, 3 do
    local sc = vkagent.scheduler(model, { kv_tokens = 256 })
    local ss = sc:session()
    local _ = ss:stream("The cat", { max_tokens = 2 })
    sc:step()
  end
  collectgarbage()
  collectgarbage()
  -- the model closed first: the scheduler keeps the weights
  local m2 = T.stories()
  local sc = vkagent.scheduler(m2)
  local ss = sc:session()
  m2:close()
  local st2 = ss:stream("Once", { max_tokens = 2, temperature = 0 })
  while sc:step() > 0 do end
  T.ok(st2:next() ~= nil)
  T.ok(tostring(sc):find("vkagent.scheduler", 1, true) ~= nil)
end)

T.test("errors", function()
  T.raises("vkagent.scheduler: argument #1 must be a vkagent model", function() vkagent.scheduler(nil) end)
  T.raises("unknown", function() vkagent.scheduler(model, { kv = 1 }) end)
  T.raises("opts.batch", function() vkagent.scheduler(model, { batch = "many" }) end)
  T.raises("opts.seqs must be a whole number >= 0", function() vkagent.scheduler(model, { seqs = -1 }) end)
  T.raises("opts.kv_type must be", function() vkagent.scheduler(model, { kv_type = "q9" }) end)
  local sched = vkagent.scheduler(model, { kv_tokens = 64 })
  T.raises("unknown", function() sched:session{ ctx = 5 } end)
  T.raises("scheduler:step: argument #1 must be a vkagent scheduler", function() sched.step(model) end)
  -- a context larger than the pool can hold fails when it is used
  local s = sched:session{ n_ctx = 64 }
  local ok = pcall(function() s:generate(string.rep("Once upon a time ", 40), { max_tokens = 1 }) end)
  T.ok(not ok, "a prompt past the pool fails")
  s:close()
  sched:close()
end)

T.done()
