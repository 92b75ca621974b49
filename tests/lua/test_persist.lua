-- test_persist.lua — sessions that last, from Lua: session:save and
-- model:load_session continue exactly where the saved session was;
-- session:shift drops tokens after a kept prefix; their errors.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"

local model = T.stories()

T.test("save and load_session: the loaded session continues like the saved one", function()
  local dir = T.tmpdir("persist")
  local path = dir .. "/npc.vkas"
  local s = model:session({ n_ctx = 128 })
  s:generate("Once upon a time", { temperature = 0, max_tokens = 8 })
  s:save(path)
  local loaded = model:load_session(path)
  T.eq(loaded:n_ctx(), 128)
  T.same(loaded:tokens(), s:tokens())
  local want = s:generate({}, { temperature = 0, max_tokens = 20 })
  local got = loaded:generate({}, { temperature = 0, max_tokens = 20 })
  T.eq(got, want)
  local bigger = model:load_session(path, { n_ctx = 200, kv_type = "f16" })
  T.eq(bigger:n_ctx(), 200)
  bigger:close()
  loaded:close()
  s:close()
  T.rmtree(dir)
end)

T.test("load_session and save: errors name the reason", function()
  local dir = T.tmpdir("persist")
  local bad = dir .. "/bad.vkas"
  local f = assert(io.open(bad, "wb"))
  f:write(string.rep("x", 200))
  f:close()
  T.raises("model:load_session: '" .. bad .. "' is not a vkagent session file", model.load_session, model, bad)
  T.raises("model:load_session: cannot open session file", model.load_session, model, dir .. "/missing.vkas")
  T.raises("model:load_session: unknown option 'ctx'", model.load_session, model, bad, { ctx = 1 })
  local s = model:session({ n_ctx = 64 })
  T.raises("session:save: ", s.save, s, "/nonexistent/dir/x.vkas")
  T.raises("session:save: argument #1 (path) must be a string, got nothing", s.save, s)
  T.raises("model:load_session: argument #1 (path) must be a string", model.load_session, model, 3)
  s:close()
  T.rmtree(dir)
end)

T.test("shift: tokens after the kept prefix go, the rest moves down", function()
  local s = model:session({ n_ctx = 64 })
  s:generate("Once upon a time", { temperature = 0, max_tokens = 20 })
  local before = s:tokens()
  s:shift(1, 6)
  local after = s:tokens()
  T.eq(#after, #before - 6)
  T.eq(after[1], before[1])
  T.eq(after[2], before[8])
  T.eq(after[#after], before[#before])
  local text, info = s:generate({}, { temperature = 0, max_tokens = 5 })
  T.eq(info.n_generated, 5)
  T.ok(#text > 0)
  T.raises("session:shift: need 0 <= n_keep, 0 <= n_discard and n_keep + n_discard <= " .. s:n_past(),
           s.shift, s, 2, s:n_past())
  T.raises("session:shift: argument #2 (n_discard) must be an integer", s.shift, s, 1)
  s:close()
end)

T.done()
