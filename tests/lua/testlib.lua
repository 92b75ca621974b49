-- testlib.lua — a small TAP test harness for the Lua tests: each file
-- registers cases with T.test(name, fn), checks with T.eq / T.ok / T.raises,
-- and ends with T.done(), which prints the plan and exits non-zero on any
-- failure. Fixtures come from $VKAGENT_TEST_DATA (default ../shared).
local T = {}
local cases = {}

function T.test(name, fn) cases[#cases + 1] = { name = name, fn = fn } end

local function fail(msg, level) error(msg, (level or 1) + 1) end

local function show(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

function T.ok(cond, msg)
  if not cond then fail("expected a true value: " .. (msg or ""), 2) end
  return cond
end

function T.eq(got, want, msg)
  if got ~= want then fail(("%sgot %s, want %s"):format(msg and (msg .. ": ") or "", show(got), show(want)), 2) end
end

--- Deep equality of plain tables.
function T.same(a, b, path)
  path = path or "value"
  if type(a) ~= type(b) then fail(("%s: type %s, want %s"):format(path, type(a), type(b)), 2) end
  if type(a) ~= "table" then
    if a ~= b then fail(("%s: got %s, want %s"):format(path, show(a), show(b)), 2) end
    return
  end
  for k, v in pairs(b) do T.same(a[k], v, path .. "." .. tostring(k)) end
  for k in pairs(a) do
    if b[k] == nil then fail(("%s: unexpected key %s"):format(path, tostring(k)), 2) end
  end
end

--- Calls fn(...) and checks that it raises an error whose message
-- contains `needle` (plain text); returns the message.
function T.raises(needle, fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then fail("expected an error containing '" .. needle .. "', but the call succeeded", 2) end
  local msg = tostring(err)
  if not msg:find(needle, 1, true) then fail(("expected an error containing '%s', got: %s"):format(needle, msg), 2) end
  return msg
end

function T.contains(text, needle, msg)
  if type(text) ~= "string" or not text:find(needle, 1, true) then
    fail(("%sexpected %s to contain %q"):format(msg and (msg .. ": ") or "", show(text), needle), 2)
  end
end

T.data_dir = os.getenv("VKAGENT_TEST_DATA") or "../shared"
T.build_dir = os.getenv("VKAGENT_BUILD_DIR") or "build"
T.source_dir = os.getenv("VKAGENT_SOURCE_DIR") or "."

--- The path of a fixture, or nil and the reason when it is missing.
function T.fixture(rel)
  local path = T.data_dir .. "/" .. rel
  local f = io.open(path, "rb")
  if not f then return nil, "missing fixture " .. path .. " (set VKAGENT_TEST_DATA)" end
  f:close()
  return path
end

--- Skips the whole file (TAP "1..0 # SKIP") and exits.
function T.skip_all(reason)
  print("1..0 # SKIP " .. reason)
  os.exit(0)
end

--- The stories260K model on the CPU (skips the file when it is missing).
function T.stories(opts)
  local path, why = T.fixture("models/stories260K.gguf")
  if not path then T.skip_all(why) end
  opts = opts or {}
  opts.device = opts.device or "cpu"
  return require("vkagent").load(path, opts), path
end

--- A tiny qwen3-shaped model with random weights and the real Qwen3
-- vocabulary and chat template (copied from the vocab-only fixture), made
-- by `vkagent synth` into BUILD/tests/tiny-qwen3-TAG.gguf on each call (one
-- file per test, so tests running at once do not share one); skips the
-- file when the vocabulary is missing. Returns the model on the CPU, path.
function T.tiny_qwen3(tag, opts)
  local vocab, why = T.fixture("fixtures/vocab/qwen3.gguf")
  if not vocab then T.skip_all(why) end
  local path = ("%s/tests/tiny-qwen3-%s.gguf"):format(T.build_dir, tag)
  local cmd = ("'%s/cli/vkagent' synth -o '%s' --preset qwen3-0.6b --dim 64 --layers 2 --heads 4 --kv-heads 2 "
    .. "--head-dim 16 --ffn 128 --ctx 1024 --vocab-from '%s' --type f32 --tied --seed 1 2>&1"):format(
    T.build_dir, path, vocab)
  local p = io.popen(cmd)
  local out = p:read("a")
  if not p:close() then error("vkagent synth failed: " .. cmd .. "\n" .. out) end
  opts = opts or {}
  opts.device = opts.device or "cpu"
  return require("vkagent").load(path, opts), path
end

--- A file's bytes, or nil when it cannot be read.
function T.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

--- A fresh empty directory under /tmp.
function T.tmpdir(tag)
  local dir = os.tmpname()
  os.remove(dir)
  dir = dir .. "-" .. (tag or "vkagent")
  assert(require("vkagent").fs.mkdir(dir))
  return dir
end

function T.rmtree(dir)
  if dir and dir:match("^/tmp/") then os.execute("rm -rf '" .. dir:gsub("'", "") .. "'") end
end

function T.done()
  print("1.." .. #cases)
  local failed = 0
  for i, c in ipairs(cases) do
    local ok, err = xpcall(c.fn, debug.traceback)
    if ok then
      print(("ok %d - %s"):format(i, c.name))
    else
      failed = failed + 1
      print(("not ok %d - %s"):format(i, c.name))
      for line in tostring(err):gmatch("[^\n]+") do print("# " .. line) end
    end
  end
  io.stdout:flush()
  os.exit(failed == 0 and 0 or 1)
end

return T
