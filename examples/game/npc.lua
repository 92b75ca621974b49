-- npc.lua — NPC dialogue in a game loop. Each NPC speaks through
-- session:stream inside a coroutine; every simulated frame advances each NPC
-- by a bounded number of tokens, so a frame never waits for a whole line.
-- Run: vkagent agent examples/game/npc.lua [--device cpu] [--tokens-per-frame N]
local vkagent = require "vkagent"
local cli = require "vkagent.cli"

local opts = cli.parse(arg, { device = "auto", model = "", tokens_per_frame = 3, seed = 1, max_tokens = 40 },
  "usage: vkagent agent examples/game/npc.lua [--device D] [--model PATH] [--tokens-per-frame N] [--seed N]")
local model = vkagent.load(cli.find_model(opts.model), { device = opts.device })

local npcs = {
  { name = "Baker", prompt = 'The baker smiled and said, "' },
  { name = "Guard", prompt = 'The guard looked at the cat and said, "' },
  { name = "Child", prompt = 'Lily ran to her mom and said, "' },
}

-- An NPC's line as a coroutine: yields the text that arrived this frame.
local function speak(npc, seed)
  return coroutine.create(function()
    local session <close> = model:session()
    for piece in session:stream(npc.prompt, {
      seed = seed, max_tokens = math.tointeger(opts.max_tokens), stop = { '"', "\n" },
      tokens_per_call = math.tointeger(opts.tokens_per_frame),
    }) do
      coroutine.yield(piece)
    end
  end)
end

for i, npc in ipairs(npcs) do
  npc.co = speak(npc, math.tointeger(opts.seed) + i)
  npc.line = ""
end

local frame, worst = 0, 0
local talking = #npcs
while talking > 0 do
  frame = frame + 1
  local t0 = os.clock()
  local news = {}
  for _, npc in ipairs(npcs) do
    if coroutine.status(npc.co) ~= "dead" then
      local ok, piece = coroutine.resume(npc.co)
      if not ok then error(npc.name .. ": " .. tostring(piece)) end
      if coroutine.status(npc.co) == "dead" then
        talking = talking - 1
        news[#news + 1] = npc.name .. " is done"
      elseif piece ~= "" then
        npc.line = npc.line .. piece
        news[#news + 1] = ("%s +%q"):format(npc.name, piece)
      end
    end
  end
  local ms = (os.clock() - t0) * 1000
  worst = math.max(worst, ms)
  -- ... the rest of the frame (physics, drawing) would run here ...
  if #news > 0 then print(("frame %3d  %5.2f ms  %s"):format(frame, ms, table.concat(news, "  "))) end
end

print(("\n%d frames, at most %d tokens per NPC per frame, slowest frame %.2f ms (CPU time)\n"):format(frame,
  math.tointeger(opts.tokens_per_frame), worst))
for _, npc in ipairs(npcs) do print(("%s: \"%s\""):format(npc.name, npc.line)) end
