-- test_module.lua — run by Debian's lua5.4 (not by vkagent agent): the
-- shared module build/lua/vkagent.so loads with require "vkagent",
-- generates, and carries the agent library inside it.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"

T.test("require 'vkagent.tools' works before require 'vkagent' (luaopen_vkagent_tools in the .so)", function()
  T.eq(package.loaded.vkagent, nil)
  local tools = require "vkagent.tools"
  T.eq(tools.calculator().run({ expression = "6*7" }), "42")
end)

T.test("require 'vkagent' finds build/lua/vkagent.so through package.cpath", function()
  local where = package.searchpath("vkagent", package.cpath)
  T.ok(where and where:match("/lua/vkagent%.so$"), tostring(where))
  local vkagent = require "vkagent"
  T.eq(vkagent.version(), "0.1.0")
  T.eq(package.loaded.vkagent, vkagent)
end)

T.test("the module generates: the golden greedy continuation", function()
  local vkagent = require "vkagent"
  local path, why = T.fixture("models/stories260K.gguf")
  if not path then
    print("# skipped: " .. why)
    return
  end
  local f = assert(io.open(T.data_dir .. "/models/stories260K.golden.json", "rb"))
  local golden = vkagent.json.decode(f:read("a"))
  f:close()
  local g = golden.greedy[1]   -- llama2.c run.c, greedy, "Once upon a time", 60 new tokens
  local m = vkagent.load(path, { device = "cpu" })
  local s = m:session()
  T.eq(s:generate(g.prompt, { temperature = 0, max_tokens = g.generated_new_tokens }), g.text:sub(#g.prompt + 1))
  s:close()
  m:close()
end)

T.test("the agent library is embedded: no Lua files on disk are needed", function()
  package.path = "/nonexistent/?.lua"
  for _, name in ipairs({ "vkagent.agent", "vkagent.tools", "vkagent.schema", "vkagent.prompt", "vkagent.calc",
                          "vkagent.cli" }) do
    T.eq(type(require(name)), "table", name)
  end
  T.eq(require("vkagent.tools").calculator().run({ expression = "6*7" }), "42")
end)

T.done()
