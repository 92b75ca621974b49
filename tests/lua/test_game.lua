-- test_game.lua — examples/game/village.lua with a small step count: three
-- NPC agents sharing one model and one scheduler, advanced by agent:poll and
-- one scheduler:step per frame,
-- saved (agents as JSON, sessions as files) and reloaded halfway.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"

local model_path, why = T.fixture("models/stories260K.gguf")
if not model_path then T.skip_all(why) end
local script = T.source_dir .. "/examples/game/village.lua"

T.test("village.lua: three agents stepped from a frame loop, saved and restored halfway", function()
  local dir = T.tmpdir("village")
  local chunk = assert(loadfile(script))
  local args = { "--model", model_path, "--device", "cpu", "--steps", "2", "--save-at", "10", "--save", dir,
                 "--quiet", "1", "--max-frames", "5000" }
  arg = { [0] = script, table.unpack(args) }
  local t0 = os.time()
  local summary = chunk(table.unpack(args))
  T.ok(os.time() - t0 < 60, "runs within a minute")
  T.ok(summary.saved_at ~= nil and summary.saved_at >= 10, "the game was saved at frame " .. tostring(summary.saved_at))
  T.eq(summary.sessions_reloaded, 3)
  T.ok(summary.polls > summary.frames, "several polls per frame")
  -- the villagers' replies advanced together: fewer forward passes than tokens
  T.ok(summary.batched, "the villagers share one scheduler")
  local generated = 0
  for _, name in ipairs({ "Baker", "Guard", "Child" }) do
    for _, step in ipairs(summary.villagers[name].result.steps) do generated = generated + step.generated_tokens end
  end
  T.ok(summary.sched.steps > 0 and summary.sched.steps < generated,
       ("%d batched steps for %d generated tokens"):format(summary.sched.steps, generated))
  T.ok(summary.sched.batch_tokens > summary.sched.steps, "several tokens per forward pass")
  for _, name in ipairs({ "Baker", "Guard", "Child" }) do
    local v = summary.villagers[name]
    T.eq(v.status, "max_steps", name)
    T.eq(v.steps, 2, name)
    for _, step in ipairs(v.result.steps) do T.ok(step.generated_tokens > 0 and #step.reply > 0, name .. ": a reply") end
    T.ok(v.loaded_tokens > 0, name .. ": the saved session was loaded")
    for i, step in ipairs(v.result.steps) do T.eq(step.n, i, name .. " steps in order across the reload") end
    -- the step after the reload saw what came before it
    local last = v.result.steps[2]
    T.contains(last.prompt, "1. ", name .. ": step 2 shows step 1")
  end
  local f = io.open(dir .. "/game.json", "rb")
  T.ok(f ~= nil, "the save file exists")
  f:close()
  T.rmtree(dir)
end)

T.done()
