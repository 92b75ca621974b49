-- test_tools.lua — the built-in tools called directly: files confined to
-- the workspace (absolute paths, '..' and escaping symlinks refused), the
-- calculator's own parser, and the memory store.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local tools = require "vkagent.tools"
local fs = vkagent.fs

local function by_name(list)
  local t = {}
  for _, spec in ipairs(list) do t[spec.name] = spec end
  return t
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local t = f:read("a")
  f:close()
  return t
end

T.test("files: write, append, read and list inside the workspace", function()
  local root = T.tmpdir("files")
  local f = by_name(tools.files{ root = root })
  T.eq(f.write_file.run({ path = "notes.txt", content = "one\n" }), "Wrote 4 bytes to notes.txt (now 4 bytes).")
  T.eq(f.append_file.run({ path = "notes.txt", content = "two\n" }), "Appended 4 bytes to notes.txt (now 8 bytes).")
  T.eq(f.read_file.run({ path = "notes.txt" }), "one\ntwo\n")
  T.eq(read(root .. "/notes.txt"), "one\ntwo\n")
  T.eq(f.write_file.run({ path = "sub/deeper/a.txt", content = "x" }), "Wrote 1 bytes to sub/deeper/a.txt (now 1 bytes).")
  T.eq(read(root .. "/sub/deeper/a.txt"), "x")
  T.eq(f.list_files.run({ path = "." }), "notes.txt\nsub/")
  T.eq(f.list_files.run({ path = "" }), "notes.txt\nsub/")
  T.eq(f.list_files.run({ path = "sub" }), "deeper/")
  T.eq(f.read_file.run({ path = "./sub//deeper/a.txt" }), "x")
  T.eq(f.read_file.run({ path = "  notes.txt " }), "one\ntwo\n")   -- surrounding spaces are trimmed
  write(root .. "/empty.txt", "")
  T.eq(f.read_file.run({ path = "empty.txt" }), "'empty.txt' is empty.")
  T.raises("read_file: 'missing.txt' does not exist", f.read_file.run, { path = "missing.txt" })
  T.raises("read_file: 'sub' is not a file", f.read_file.run, { path = "sub" })
  T.raises("write_file: 'sub' is a directory", f.write_file.run, { path = "sub", content = "x" })
  T.raises("write_file: 'notes.txt' is not a directory", f.write_file.run, { path = "notes.txt/x", content = "x" })
  T.raises("write_file: 'content' must be a string, got nil", f.write_file.run, { path = "a" })
  T.raises("read_file: 'path' must be a string, got number", f.read_file.run, { path = 5 })
  T.raises("read_file: 'path' is empty", f.read_file.run, { path = "" })
  T.raises("write_file: give a file name, not the workspace itself", f.write_file.run, { path = ".", content = "x" })
  T.raises("tools.files: unknown option 'dir'", tools.files, { dir = root })
  T.raises("tools.files: root must be a directory path", tools.files, {})
  T.rmtree(root)
end)

T.test("files: large files are read up to max_read with a note", function()
  local root = T.tmpdir("big")
  local f = by_name(tools.files{ root = root, max_read = 10 })
  write(root .. "/big.txt", ("0123456789"):rep(5))
  T.eq(f.read_file.run({ path = "big.txt" }), "0123456789\n[...40 more bytes not shown]")
  T.rmtree(root)
end)

T.test("files: absolute paths, '..' and escaping symlinks are refused", function()
  local root = T.tmpdir("confined")
  local outside = T.tmpdir("outside")
  write(outside .. "/secret.txt", "secret")
  local f = by_name(tools.files{ root = root })
  local secret = outside .. "/secret.txt"
  -- absolute paths
  T.raises("is an absolute path", f.read_file.run, { path = secret })
  T.raises("is an absolute path", f.write_file.run, { path = "/tmp/x.txt", content = "x" })
  T.raises("is an absolute path", f.list_files.run, { path = "/" })
  T.raises("is an absolute path", f.read_file.run, { path = "~/.bashrc" })
  -- '..' anywhere
  local rel = "../" .. outside:match("[^/]+$") .. "/secret.txt"
  T.raises("goes up with '..'", f.read_file.run, { path = rel })
  T.raises("goes up with '..'", f.write_file.run, { path = "a/../../x.txt", content = "x" })
  T.raises("goes up with '..'", f.append_file.run, { path = "..", content = "x" })
  T.raises("goes up with '..'", f.list_files.run, { path = "sub/.." })
  -- symbolic links that lead outside: to a file, to a directory, dangling
  assert(os.execute(("ln -s '%s' '%s/link.txt'"):format(secret, root)))
  assert(os.execute(("ln -s '%s' '%s/outdir'"):format(outside, root)))
  assert(os.execute(("ln -s '%s/nowhere' '%s/dangling'"):format(outside, root)))
  T.raises("'link.txt' leads outside the workspace (through a symbolic link); refused", f.read_file.run, { path = "link.txt" })
  T.raises("leads outside the workspace", f.write_file.run, { path = "link.txt", content = "pwned" })
  T.raises("leads outside the workspace", f.append_file.run, { path = "link.txt", content = "pwned" })
  T.raises("leads outside the workspace", f.read_file.run, { path = "outdir/secret.txt" })
  T.raises("leads outside the workspace", f.write_file.run, { path = "outdir/new.txt", content = "pwned" })
  T.raises("leads outside the workspace", f.list_files.run, { path = "outdir" })
  T.raises("'dangling' is a symbolic link that points nowhere", f.write_file.run, { path = "dangling", content = "x" })
  T.raises("'dangling' is a symbolic link that points nowhere", f.read_file.run, { path = "dangling" })
  T.eq(read(secret), "secret")
  T.eq(read(outside .. "/new.txt"), nil)
  T.eq(read(outside .. "/nowhere"), nil)
  -- links that stay inside are fine
  write(root .. "/real.txt", "inside")
  assert(os.execute(("ln -s real.txt '%s/alias.txt'"):format(root)))
  T.eq(f.read_file.run({ path = "alias.txt" }), "inside")
  T.eq(f.list_files.run({ path = "." }), "alias.txt@\ndangling@\nlink.txt@\noutdir@\nreal.txt")
  T.rmtree(root)
  T.rmtree(outside)
end)

T.test("vkagent.fs helpers", function()
  local root = T.tmpdir("fs")
  T.eq(fs.lstat(root), "directory")
  T.eq(select(1, fs.lstat(root .. "/none")), nil)
  T.eq(fs.mkdir(root .. "/d"), true)
  T.eq(fs.mkdir(root .. "/d"), true)   -- existing is fine
  write(root .. "/f", "abc")
  local kind, size = fs.lstat(root .. "/f")
  T.eq(kind, "file")
  T.eq(size, 3)
  T.same(fs.list(root), { "d", "f" })
  T.eq(fs.realpath(root .. "/d/../f"), fs.realpath(root) .. "/f")
  local none, err = fs.realpath(root .. "/none")
  T.eq(none, nil)
  T.contains(err, "No such file")
  T.rmtree(root)
end)

T.test("calculator: precedence, functions, errors with positions", function()
  local calc = tools.calculator()
  T.eq(calc.name, "calculate")
  local function c(e) return calc.run({ expression = e }) end
  T.eq(c("1 + 2 * 3"), "7")
  T.eq(c("(1 + 2) * 3"), "9")
  T.eq(c("2 ^ 3 ^ 2"), "512")        -- right-associative: 2^9
  T.eq(c("-2 ^ 2"), "-4")            -- minus binds looser than power
  T.eq(c("2 ** 10"), "1024")
  T.eq(c("7 % 3"), "1")
  T.eq(c("1 / 4"), "0.25")
  T.eq(c("10 / 3"), "3.33333333333")
  T.eq(c("sqrt(16) + abs(-3)"), "7")
  T.eq(c("max(1, 5, 3) - min(4, 2)"), "3")
  T.eq(c("round(2.5) + floor(-1.5)"), "1")
  T.eq(c("2 * pi"), "6.28318530718")
  T.eq(c("1e3 + .5"), "1000.5")
  T.eq(c("9007199254740993 * 1024"), "9.22337203685e+18")   -- floats: no silent integer wrap-around
  T.raises("calculate: position 3: division by zero", c, "1 / 0")
  T.raises("calculate: position 5: unexpected ')' after the expression", c, "1+2 )")
  T.raises("calculate: position 1: unknown name 'exit'", c, "exit(0)")
  T.raises("calculate: position 3: malformed number '.'", c, "os.exit()")
  T.raises("calculate: position 3: unexpected character '#'", c, "1 # 2")
  T.raises("calculate: position 4: the expression ends too early", c, "1 +")
  T.raises("calculate: position 1: sqrt takes 1 argument, got 2", c, "sqrt(1, 2)")
  T.raises("calculate: position 1: sqrt: the result is not a finite number", c, "sqrt(-1)")
  T.raises("expression nested too deeply", c, ("("):rep(200) .. "1" .. (")"):rep(200))
  T.raises("calculate: 'expression' must be a string, got nil", calc.run, {})
end)

T.test("memory: remember and recall, persisted as JSON", function()
  local root = T.tmpdir("mem")
  local path = root .. "/memory.json"
  local m = by_name(tools.memory{ path = path })
  T.eq(m.remember.run({ key = "name", value = "Lily" }), "Remembered 'name'.")
  T.eq(m.remember.run({ key = "pet", value = "a cat" }), "Remembered 'pet'.")
  T.eq(m.recall.run({ key = "name" }), "Lily")
  T.raises("recall: nothing is remembered under 'age' (known keys: name, pet)", m.recall.run, { key = "age" })
  T.same(vkagent.json.decode(read(path)), { name = "Lily", pet = "a cat" })
  -- a new store on the same file sees the values
  local m2 = by_name(tools.memory{ path = path })
  T.eq(m2.recall.run({ key = "pet" }), "a cat")
  write(path, "[1, 2")
  local m3 = by_name(tools.memory{ path = path })
  T.raises("is not a JSON object", m3.recall.run, { key = "x" })
  T.raises("remember: 'key' is empty", m.remember.run, { key = " ", value = "x" })
  T.raises("tools.memory: path must be a file path", tools.memory, {})
  T.rmtree(root)
end)

T.done()
