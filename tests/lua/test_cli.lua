-- test_cli.lua — `vkagent agent SCRIPT.lua [args...]`: `arg` as the lua
-- interpreter sets it, exit codes, Lua errors printed with a traceback.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"

local exe = T.build_dir .. "/cli/vkagent"

-- Runs the command; returns stdout+stderr and the exit code.
local function run(args)
  local p = io.popen(exe .. " " .. args .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  return out:gsub("rc=%d+\n$", ""), rc
end

local dir = T.tmpdir("cli")
local function script(name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

T.test("arg and ... are set as by the lua interpreter", function()
  local s = script("args.lua", [[
    print(arg[0], arg[1], arg[2], #arg, select('#', ...), (...), arg[-1])
    assert(require("vkagent.tools").calculator)   -- the library is preloaded before "vkagent" itself
    local v = require "vkagent"
    print(type(v.load), type(require("vkagent.agent").new))
  ]])
  local out, rc = run("agent " .. s .. " one 'two words'")
  T.eq(rc, 0)
  T.eq(out, s .. "\tone\ttwo words\t2\t2\tone\tagent\nfunction\tfunction\n")
end)

T.test("a Lua error prints the message and a traceback, exit code 1", function()
  local s = script("fails.lua", "local function inner() error('it broke') end\ninner()\n")
  local out, rc = run("agent " .. s)
  T.eq(rc, 1)
  T.contains(out, "vkagent agent: " .. s .. ":1: it broke")
  T.contains(out, "stack traceback:")
  T.contains(out, "in local 'inner'")
  local s2 = script("syntax.lua", "x = = 1\n")
  local out2, rc2 = run("agent " .. s2)
  T.eq(rc2, 1)
  T.contains(out2, "syntax.lua:1:")
  local s3 = script("table_error.lua", "error({})\n")
  local out3, rc3 = run("agent " .. s3)
  T.eq(rc3, 1)
  T.contains(out3, "(error object is a table value)")
end)

T.test("usage, missing scripts, os.exit", function()
  local out, rc = run("agent")
  T.eq(rc, 2)
  T.contains(out, "usage: vkagent agent SCRIPT.lua")
  local out2, rc2 = run("agent --help")
  T.eq(rc2, 0)
  T.contains(out2, "usage: vkagent agent SCRIPT.lua")
  local out3, rc3 = run("agent " .. dir .. "/missing.lua")
  T.eq(rc3, 1)
  T.contains(out3, "cannot open " .. dir .. "/missing.lua")
  local _, rc4 = run("agent " .. script("exit.lua", "os.exit(3)"))
  T.eq(rc4, 3)
  local out5, rc5 = run("agent --device cpu x.lua")
  T.eq(rc5, 2)
  T.contains(out5, "unknown option '--device'")
end)

T.test("the storyteller demo runs and writes its story", function()
  local model = T.fixture("models/stories260K.gguf")
  if not model then
    print("# skipped: no stories260K")
    return
  end
  local ws = dir .. "/story-ws"
  local out, rc = run(("agent %s/examples/agents/storyteller.lua --device cpu --model %s --workspace %s --steps 3")
    :format(T.source_dir, model, ws))
  T.eq(rc, 0, out)
  T.contains(out, "[step 1]")
  T.contains(out, "  thought:")
  T.contains(out, "  call:")
  T.contains(out, "  result:")
  T.contains(out, "status: ")
  T.contains(out, "story.txt")
end)

T.test("the other examples run: calculator, files, npc, and the C host", function()
  local model = T.fixture("models/stories260K.gguf")
  if not model then
    print("# skipped: no stories260K")
    return
  end
  local ex = T.source_dir .. "/examples"
  local out, rc = run(("agent %s/agents/calculator.lua --device cpu --model %s --steps 2"):format(ex, model))
  T.eq(rc, 0, out)
  T.contains(out, 'calculate{expression = "2 * (3 + 4) ^ 2"} -> 98')
  T.contains(out, "status: ")
  out, rc = run(("agent %s/agents/files.lua --device cpu --model %s --steps 2 --workspace %s/files-ws")
    :format(ex, model, dir))
  T.eq(rc, 0, out)
  T.contains(out, "goes up with '..'")
  T.contains(out, "leads outside the workspace")
  T.contains(out, "[step 2]")
  out, rc = run(("agent %s/game/npc.lua --device cpu --model %s --tokens-per-frame 2"):format(ex, model))
  T.eq(rc, 0, out)
  T.contains(out, "at most 2 tokens per NPC per frame")
  T.contains(out, 'Baker: "')
  local p = io.popen(("VKAGENT_DEVICE=cpu %s/examples/embed %s 2>&1; echo rc=$?"):format(T.build_dir, model))
  out = p:read("a")
  p:close()
  T.contains(out, "rc=0")
  T.contains(out, "call:      count_letters")
  T.contains(out, "host: the agent ended with status 'max_steps' after 4 steps; count_letters ran 4 times")
end)

T.test("cleanup", function() T.rmtree(dir) end)

T.done()
