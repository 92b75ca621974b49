-- village.lua — NPC agents in a game loop: three villagers share one model,
-- each an agent with tools that act on a small world (walk, say, wait for
-- the bell). Their sessions come from one vkagent.scheduler: each frame
-- polls every agent (agent:poll takes the text that arrived, runs tools,
-- opens the next reply) and then calls sched:step() once, which advances
-- every villager's reply by a token in one batched forward pass. With
-- --batched 0 each agent has a session of its own instead, and the frame
-- gives the agents a budget of CPU time and advances them in turn with
-- agent:poll, a few tokens at a time, so no frame waits for a whole reply. The bell tool yields until the
-- bell rings (every 40 frames). Halfway the game is saved: the agents that
-- are generating a reply finish it first (a session is saved between
-- replies), then the world and every agent (agent:save) go into a JSON file
-- and each session into a session file (session:save); everything is thrown
-- away and rebuilt from the files (model:load_session, agent:restore), and
-- the loop goes on where it was. (A tool still waiting at the save runs
-- again after the reload; without a session file, an agent rebuilds its
-- session from the history, feeding its next prompt afresh.)
-- Run: vkagent agent examples/game/village.lua [--device cpu] [--steps N]
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local cli = require "vkagent.cli"
local json = vkagent.json

local usage = [[
usage: vkagent agent examples/game/village.lua [options]
  --device D         auto, cpu, vulkan, vulkan:N (default: auto)
  --model PATH       GGUF model (default: stories260K)
  --steps N          steps per villager (default 4)
  --frame-ms MS      CPU time the agents may use per frame (default 4)
  --tokens N         tokens per agent:poll without a scheduler (default 4)
  --batched 0|1      one scheduler for all villagers (default 1)
  --save-at FRAME    frame at which the game is saved and reloaded (default 60)
  --save DIR         where the save files go (default /tmp/vkagent-village)
  --max-frames N     give up after this many frames (default 20000)
  --quiet 1          print nothing (for tests: the script returns a summary)]]
local opts = cli.parse(arg, { device = "auto", model = "", steps = 4, frame_ms = 4, tokens = 4, save_at = 60,
                              save = "/tmp/vkagent-village", max_frames = 20000, quiet = 0, batched = 1 }, usage)
local quiet = opts.quiet ~= 0 and opts.quiet ~= "0"
local function say(...) if not quiet then print(...) end end

local model = vkagent.load(cli.find_model(opts.model), { device = opts.device })
local batched = opts.batched ~= 0 and opts.batched ~= "0"
-- one KV pool and one forward pass per frame for all the villagers
local sched = batched and vkagent.scheduler(model) or nil
local PLACES = { "well", "bakery", "gate", "market" }
local BELL_EVERY = 40

-- The world: where everyone is, what was said, and the clock.
local world = { frame = 0, log = {}, at = { Baker = "bakery", Guard = "gate", Child = "well" } }

local villagers = {
  { name = "Baker", role = "the village baker", goal = "Sell bread and greet people at the market." },
  { name = "Guard", role = "the village guard", goal = "Watch the gate and walk around the village." },
  { name = "Child", role = "a curious child", goal = "Play at the well and wait for the bell." },
}

-- Tools act on the world for the villager who calls them (ctx.agent.name).
local function tools_for()
  return {
    { name = "walk", description = "Walk to a place.",
      params = { type = "object", properties = { to = { enum = PLACES } }, required = { "to" } },
      run = function(args, ctx)
        world.at[ctx.agent.name] = args.to
        return ("You walk to the %s."):format(args.to)
      end },
    { name = "say", description = "Say something.",
      params = { type = "object", properties = { text = { type = "string", maxLength = 30 } }, required = { "text" } },
      run = function(args, ctx)
        world.log[#world.log + 1] = ("frame %d, %s at the %s: %s"):format(world.frame, ctx.agent.name,
          world.at[ctx.agent.name], args.text)
        return "You said it."
      end },
    -- Waits for an in-game event: yields every frame until the bell rings.
    { name = "wait_bell", description = "Wait for the bell.",
      run = function()
        local from = world.frame
        repeat coroutine.yield("waiting for the bell") until world.frame // BELL_EVERY > from // BELL_EVERY
        return ("The bell rang at frame %d."):format(world.frame)
      end },
  }
end

local function make_agent(v, session)
  local agent = Agent.new{
    model = model, name = v.name, role = v.role, goals = { v.goal }, max_steps = math.tointeger(opts.steps),
    seed = #v.name, finish = false, repeat_limit = false, session = session or (sched and sched:session()),
    on_step = function(step, a) say(("frame %5d  %s\n%s"):format(world.frame, a.name, Agent.format_step(step))) end,
  }
  agent:tool(tools_for())
  return agent
end

for _, v in ipairs(villagers) do v.agent = make_agent(v) end

-- Saving (no agent generating): the world and each agent's run as JSON,
-- each session as a session file beside it.
local function save_game(dir)
  os.execute("mkdir -p '" .. dir:gsub("'", "") .. "'")
  local state = { world = world, agents = {}, sessions = {} }
  for _, v in ipairs(villagers) do
    state.agents[v.name] = v.agent:save()
    local path = ("%s/%s.session"):format(dir, v.name)
    v.agent.session:save(path)
    state.sessions[v.name] = path
  end
  local f = assert(io.open(dir .. "/game.json", "wb"))
  f:write(json.encode(state, { indent = true }))
  f:close()
  return state
end

local function load_game(dir)
  local f = assert(io.open(dir .. "/game.json", "rb"))
  local state = json.decode(f:read("a"))
  f:close()
  world = state.world
  for _, v in ipairs(villagers) do
    local path = state.sessions[v.name]
    local session = path and model:load_session(path) or nil
    if session and sched then
      -- a session file loads into a session of its own: its tokens go into a
      -- session of the scheduler (fed, the pool sharing what it can)
      local shared = sched:session{ n_ctx = session:n_ctx() }
      shared:feed(session:tokens())
      session:close()
      session = shared
    end
    v.agent = make_agent(v, session)
    v.agent:restore(state.agents[v.name])
    v.loaded_tokens = #v.agent.session:tokens()   -- reused by the next prompt where they match it
  end
  return state
end

local function all_ended()
  for _, v in ipairs(villagers) do
    local s = v.agent:status()
    if s == "idle" or s == "running" or s == "waiting" then return false end
  end
  return true
end

local function any_generating()
  for _, v in ipairs(villagers) do if v.agent:generating() then return true end end
  return false
end

-- The frame loop: each frame, the agents take turns (starting with a
-- different one each frame) while the frame's CPU budget lasts; one poll
-- at least, so a waiting tool sees every frame. Once a save is due, only
-- the agents still generating a reply are polled, until none is.
local budget = opts.frame_ms / 1000
local polls, worst_poll, worst_frame, saved_at, reloaded, saving = 0, 0, 0, nil, nil, false
while not all_ended() and world.frame < opts.max_frames do
  world.frame = world.frame + 1
  local t0 = os.clock()
  for k = 0, #villagers - 1 do
    local v = villagers[(world.frame + k) % #villagers + 1]
    -- (batched, every agent is polled: its reply joins the frame's one pass)
    if not sched and os.clock() - t0 > budget and k > 0 then break end
    if not (saving and not v.agent:generating()) then
      local p0 = os.clock()
      v.agent:poll{ tokens = math.tointeger(opts.tokens), prefill = 32 }
      polls = polls + 1
      worst_poll = math.max(worst_poll, os.clock() - p0)
    end
  end
  -- every reply in progress advances by one token (or prompt chunk), together
  if sched then sched:step() end
  worst_frame = math.max(worst_frame, os.clock() - t0)
  -- ... the rest of the frame (physics, drawing) would run here ...
  saving = saving or (saved_at == nil and world.frame >= opts.save_at)
  if saving and not any_generating() then
    saving = false
    local state = save_game(opts.save)
    local n_sessions = 0
    for _ in pairs(state.sessions) do n_sessions = n_sessions + 1 end
    say(("frame %5d  saved the game to %s (%d sessions); reloading it"):format(world.frame, opts.save, n_sessions))
    for _, v in ipairs(villagers) do v.agent.session:close() end
    load_game(opts.save)
    saved_at, reloaded = world.frame, n_sessions
  end
end

local summary = { frames = world.frame, polls = polls, batched = batched, sched = sched and sched:stats() or nil, saved_at = saved_at, sessions_reloaded = reloaded,
                  worst_poll_ms = worst_poll * 1000, worst_frame_ms = worst_frame * 1000, log = world.log,
                  villagers = {} }
say(("\n%d frames, %d polls; slowest poll %.1f ms, slowest frame %.1f ms (CPU time, budget %g ms)"):format(
  world.frame, polls, summary.worst_poll_ms, summary.worst_frame_ms, opts.frame_ms))
for _, v in ipairs(villagers) do
  local r = v.agent:result() or { status = v.agent:status(), steps = v.agent.steps }
  summary.villagers[v.name] = { status = r.status, steps = #r.steps, at = world.at[v.name],
                                loaded_tokens = v.loaded_tokens, result = r }
  say(("%s: %s after %d steps, now at the %s"):format(v.name, r.status, #r.steps, world.at[v.name]))
end
for _, line in ipairs(world.log) do say("  " .. line) end
return summary
