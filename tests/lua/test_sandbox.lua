-- test_sandbox.lua — vkagent.sandbox.eval (behind the lua_eval tool): what
-- untrusted code can do, and the attacks that must each fail with a clear
-- message within its limits while the host carries on.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local tools = require "vkagent.tools"
local eval = vkagent.sandbox.eval

local function now()
  -- os.clock is CPU time; a busy loop burns CPU, so it bounds wall time too here
  return os.clock()
end

T.test("ordinary code runs: print output, returned values, pure libraries", function()
  local ok, out = eval("print('hi', 1 + 2) return 6 * 7, 'x'")
  T.eq(ok, true)
  T.eq(out, "hi\t3\n=> 42, x\n")
  T.eq(select(2, eval("return string.format('%05.1f', math.pi), utf8.char(233), table.concat({1,2}, '-')")),
    "=> 003.1, é, 1-2\n")
  T.eq(select(2, eval("local co = coroutine.wrap(function() coroutine.yield(1) end) return co()")), "=> 1\n")
  T.eq(select(2, eval("return load('return 5')()")), "=> 5\n")   -- text chunks load
  T.eq(select(2, eval("")), "")
  local ok2, err = eval("local x = = 1")
  T.eq(ok2, false)
  T.contains(err, "code:1:")
  local ok3, err3 = eval("error('mine')")
  T.eq(ok3, false)
  T.eq(err3, "code:1: mine")
  local _, big = eval("for i = 1, 1000 do print(('x'):rep(50)) end", { output = 100 })
  T.eq(#big, 100 + #"[output cut]\n")
end)

T.test("no files, processes, modules or debug library", function()
  local attacks = {
    { "return io.open('/etc/passwd'):read('a')", "'io' is not available in the sandbox" },
    { "return os.execute('echo pwned')", "'os' is not available in the sandbox" },
    { "return io.popen('id'):read('a')", "'io' is not available in the sandbox" },
    { "return require('os')", "'require' is not available in the sandbox" },
    { "return package.loadlib('libc.so.6', 'system')", "'package' is not available in the sandbox" },
    { "return debug.sethook()", "'debug' is not available in the sandbox" },
    { "return dofile('/etc/passwd')", "'dofile' is not available in the sandbox" },
    { "return loadfile('/etc/passwd')", "'loadfile' is not available in the sandbox" },
    { "return string.dump(function() end)", "string.dump is not available in the sandbox" },
    { "return ('').dump(print)", "string.dump is not available in the sandbox" },
    { "setmetatable({}, {__gc = function() while true do end end})", "__gc metamethods are not available" },
  }
  for _, a in ipairs(attacks) do
    local ok, err = eval(a[1])
    T.eq(ok, false, a[1])
    T.contains(err, a[2], a[1])
  end
end)

T.test("bytecode cannot be loaded", function()
  -- A real binary chunk made by the host, handed to the sandbox as text.
  local chunk = string.dump(function() return 1 end)
  local code = ("local f, err = load(%q) return f, err"):format(chunk)
  local ok, out = eval(code)
  T.eq(ok, true)
  T.contains(out, "attempt to load a binary chunk (mode is 't')")
  local ok2, out2 = eval(("return load(%q, 'x', 'b')"):format(chunk))
  T.eq(ok2, true)
  T.contains(out2, "binary chunk")
end)

T.test("unbounded allocation hits the memory limit", function()
  for _, code in ipairs({
    "local t = {} while true do t[#t + 1] = ('x'):rep(1000) .. #t end",
    "return ('x'):rep(1 << 30)",
    "local s = 'x' while true do s = s .. s end",
    "local t = {} for i = 1, 1e9 do t[i] = i end",
  }) do
    local ok, err, stats = eval(code, { memory = 1 << 20, instructions = 1e9, seconds = 5 })
    T.eq(ok, false, code)
    T.eq(err, "memory limit exceeded (1048576 bytes)", code)
    T.ok(stats.memory_peak <= 1 << 20, "peak within the limit")
  end
end)

T.test("endless loops hit the instruction limit or the time limit", function()
  local t0 = now()
  local ok, err, stats = eval("while true do end", { instructions = 200000 })
  T.eq(ok, false)
  T.eq(err, "instruction limit exceeded (200000 instructions)")
  T.ok(stats.instructions >= 200000 and stats.instructions <= 201000, "stopped at the limit")
  local ok2, err2, stats2 = eval("local i = 0 while true do i = i + 1 end", { instructions = 1e15, seconds = 0.3 })
  T.eq(ok2, false)
  T.eq(err2, "time limit exceeded (0.3 s)")
  T.ok(stats2.seconds < 1.5, "stopped near its limit, took " .. stats2.seconds)
  -- catching the limit error does not help: the hook fires again at once
  local ok3, err3 = eval("while true do pcall(function() while true do end end) end", { instructions = 100000 })
  T.eq(ok3, false)
  T.eq(err3, "instruction limit exceeded (100000 instructions)")
  local ok4, err4 = eval("local co = coroutine.wrap(function() while true do end end) co()", { instructions = 100000 })
  T.eq(ok4, false)
  T.eq(err4, "instruction limit exceeded (100000 instructions)")
  local ok5, err5 = eval("local function f() return f() end return f()", { instructions = 100000 })
  T.eq(ok5, false)
  T.eq(err5, "instruction limit exceeded (100000 instructions)")
  T.ok(now() - t0 < 10, "all of it quickly")
end)

T.test("the host carries on and its state is untouched", function()
  eval("x_from_sandbox = 1; string.upper = nil; math.pi = 3")
  T.eq(x_from_sandbox, nil)
  T.eq(string.upper("a"), "A")
  T.eq(math.pi > 3.14, true)
  for _ = 1, 3 do eval("while true do end", { instructions = 10000 }) end
  T.eq(select(2, eval("return 1 + 1")), "=> 2\n")
  -- Generation still works in the host after the attacks.
  local path = T.fixture("models/stories260K.gguf")
  if path then
    local m = vkagent.load(path, { device = "cpu" })
    local s = m:session()
    T.ok(#s:generate("The cat", { max_tokens = 5, temperature = 0 }) > 0)
    s:close()
    m:close()
  end
end)

T.test("option errors", function()
  T.raises("sandbox.eval: opts.memory must be at least 65536 bytes", eval, "", { memory = 10 })
  T.raises("sandbox.eval: opts.instructions must be at least 1", eval, "", { instructions = 0 })
  T.raises("sandbox.eval: opts.seconds must be a positive number", eval, "", { seconds = -1 })
  T.raises("sandbox.eval: unknown option 'time'", eval, "", { time = 1 })
  T.raises("bad argument #1 to", eval, nil)
end)

T.test("the lua_eval tool reports sandbox failures as errors and output as observations", function()
  local tool = tools.lua_eval{ instructions = 50000, memory = 1 << 20, seconds = 1 }
  T.eq(tool.name, "lua_eval")
  T.eq(tool.run({ code = "print(2^10)" }), "1024.0\n")
  T.eq(tool.run({ code = "local x = 1" }), "(no output)")
  T.raises("lua_eval: instruction limit exceeded (50000 instructions)", tool.run, { code = "while true do end" })
  T.raises("lua_eval: code:1: 'io' is not available in the sandbox", tool.run, { code = "io.write(1)" })
  T.raises("lua_eval: memory limit exceeded (1048576 bytes)", tool.run, { code = "return ('x'):rep(1 << 24)" })
  T.raises("lua_eval: 'code' must be a string, got nil", tool.run, {})
  T.raises("tools.lua_eval: unknown option 'mem'", tools.lua_eval, { mem = 1 })
end)

T.done()
