-- vkagent.tools — built-in tools, opt-in: constructors returning tool specs
-- for agent:tool. A spec's run(args) may also be called directly: it
-- returns the observation text or raises an error that says why. Their
-- argument schemas say additionalProperties = false: the standard's
-- default would let a call carry members no tool reads.
--
--   files{root = DIR}      -> read_file{path}, write_file{path, content},
--                             append_file{path, content}, list_files{path}
--   calculator()           -> calculate{expression}
--   lua_eval{instructions = N, memory = BYTES, seconds = S} -> lua_eval{code}
--   memory{path = FILE}    -> remember{key, value}, recall{key}
local vkagent = require "vkagent"
local calc = require "vkagent.calc"
local json, fs = vkagent.json, vkagent.fs

local tools = {}

local function str_arg(args, key, tool, allow_empty)
  if type(args) ~= "table" then error(tool .. ": args must be a table, got " .. type(args), 0) end
  local v = args[key]
  if type(v) ~= "string" then error(("%s: '%s' must be a string, got %s"):format(tool, key, type(v)), 0) end
  if not allow_empty and v == "" then error(("%s: '%s' is empty"):format(tool, key), 0) end
  return v
end

local function props(order, members)
  return json.object(members, order)
end

local function check_opts(o, known, where)
  if o == nil then return {} end
  if type(o) ~= "table" then error(where .. ": options must be a table", 3) end
  for k in pairs(o) do
    if not known[k] then error(where .. ": unknown option '" .. tostring(k) .. "'", 3) end
  end
  return o
end

-- ------------------------------------------------------------------ files

-- A workspace: every path given to its tools is relative to root; absolute
-- paths, '..' and symbolic links that lead outside are refused.
local Workspace = {}
Workspace.__index = Workspace

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The path's components, checked; an empty list means the root itself.
function Workspace:parts(path, tool)
  path = trim(path)
  if path:find("\0", 1, true) then error(tool .. ": the path contains a NUL byte", 0) end
  if path:sub(1, 1) == "/" or path:sub(1, 1) == "~" then
    error(("%s: '%s' is an absolute path; give a path inside the workspace, like 'notes.txt'"):format(tool, path), 0)
  end
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      error(("%s: '%s' goes up with '..'; paths must stay inside the workspace"):format(tool, path), 0)
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return parts, path
end

function Workspace:inside(real)
  return real == self.root or real:sub(1, #self.root + 1) == self.root .. "/"
end

-- The real path of an existing entry, refused when it resolves outside.
function Workspace:resolve(parts, shown, tool)
  local full = self.root .. (#parts > 0 and "/" .. table.concat(parts, "/") or "")
  local real, err = fs.realpath(full)
  if not real then
    if fs.lstat(full) == "link" then
      error(("%s: '%s' is a symbolic link that points nowhere"):format(tool, shown), 0)
    end
    error(("%s: '%s' does not exist (%s)"):format(tool, shown, (err or ""):match(": ([^:]*)$") or "not found"), 0)
  end
  if not self:inside(real) then
    error(("%s: '%s' leads outside the workspace (through a symbolic link); refused"):format(tool, shown), 0)
  end
  return real
end

-- The real path where a file may be written: missing parent directories
-- are made (inside the workspace), links must resolve inside.
function Workspace:writable(parts, shown, tool)
  if #parts == 0 then error(tool .. ": give a file name, not the workspace itself", 0) end
  local dir = self.root
  for i = 1, #parts - 1 do
    local next_dir = dir .. "/" .. parts[i]
    local kind = fs.lstat(next_dir)
    if kind == nil then
      local ok, err = fs.mkdir(next_dir)
      if not ok then error(tool .. ": cannot make directory '" .. parts[i] .. "': " .. err, 0) end
    elseif kind == "link" then
      local real = fs.realpath(next_dir)
      if not real or not self:inside(real) then
        error(("%s: '%s' leads outside the workspace (through a symbolic link); refused"):format(tool, shown), 0)
      end
      next_dir = real
      if fs.lstat(real) ~= "directory" then error(("%s: '%s' is not a directory"):format(tool, parts[i]), 0) end
    elseif kind ~= "directory" then
      error(("%s: '%s' is not a directory"):format(tool, parts[i]), 0)
    end
    dir = next_dir
  end
  local target = dir .. "/" .. parts[#parts]
  local kind = fs.lstat(target)
  if kind == "link" then
    local real = fs.realpath(target)
    if not real then error(("%s: '%s' is a symbolic link that points nowhere; refused"):format(tool, shown), 0) end
    if not self:inside(real) then
      error(("%s: '%s' leads outside the workspace (through a symbolic link); refused"):format(tool, shown), 0)
    end
    target, kind = real, fs.lstat(real)
  end
  if kind == "directory" then error(("%s: '%s' is a directory"):format(tool, shown), 0) end
  if kind and kind ~= "file" then error(("%s: '%s' is not a regular file"):format(tool, shown), 0) end
  return target
end

local function file_size(path)
  local _, size = fs.lstat(path)
  return size or 0
end

--- files{root = DIR, max_read = 4096, create = true}: read_file,
-- write_file, append_file and list_files confined to DIR (made if missing
-- unless create = false).
function tools.files(o)
  o = check_opts(o, { root = true, max_read = true, create = true }, "tools.files")
  if type(o.root) ~= "string" or o.root == "" then error("tools.files: root must be a directory path", 2) end
  if o.create ~= false and not fs.lstat(o.root) then
    local ok, err = fs.mkdir(o.root)
    if not ok then error("tools.files: cannot make the workspace: " .. err, 2) end
  end
  local root, err = fs.realpath(o.root)
  if not root then error("tools.files: the workspace does not exist: " .. err, 2) end
  if fs.lstat(root) ~= "directory" then error("tools.files: root is not a directory: " .. root, 2) end
  local ws = setmetatable({ root = root }, Workspace)
  local max_read = o.max_read or 4096
  local path_schema = { type = "string", description = "a path inside the workspace" }
  local content_schema = { type = "string" }

  local read_file = {
    name = "read_file",
    description = "Read a file.",
    params = { type = "object", properties = { path = path_schema }, required = { "path" },
               additionalProperties = false },
    run = function(args)
      local parts, shown = ws:parts(str_arg(args, "path", "read_file"), "read_file")
      local real = ws:resolve(parts, shown, "read_file")
      if fs.lstat(real) ~= "file" then error(("read_file: '%s' is not a file"):format(shown), 0) end
      local f, ferr = io.open(real, "rb")
      if not f then error("read_file: " .. ferr, 0) end
      local text = f:read(max_read) or ""
      local rest = file_size(real) - #text
      f:close()
      if text == "" then return ("'%s' is empty."):format(shown) end
      if rest > 0 then text = text .. ("\n[...%d more bytes not shown]"):format(rest) end
      return text
    end,
  }
  local function writer(name, mode, verb)
    return {
      name = name,
      description = verb == "Wrote" and "Write a file." or "Add text to a file.",
      params = { type = "object", properties = props({ "path", "content" }, { path = path_schema, content = content_schema }),
                 required = { "path", "content" }, additionalProperties = false },
      run = function(args)
        local parts, shown = ws:parts(str_arg(args, "path", name), name)
        local content = str_arg(args, "content", name, true)
        local target = ws:writable(parts, shown, name)
        local f, ferr = io.open(target, mode)
        if not f then error(name .. ": " .. ferr, 0) end
        local ok, werr = f:write(content)
        f:close()
        if not ok then error(name .. ": " .. tostring(werr), 0) end
        return ("%s %d bytes to %s (now %d bytes)."):format(verb, #content, shown, file_size(target))
      end,
    }
  end
  local list_files = {
    name = "list_files",
    description = "List a folder.",
    params = { type = "object", properties = { path = path_schema }, required = { "path" },
               additionalProperties = false },
    run = function(args)
      local given = args and args.path or "."
      if type(given) ~= "string" then error("list_files: 'path' must be a string, got " .. type(given), 0) end
      local parts, shown = ws:parts(given, "list_files")
      local real = ws:resolve(parts, shown == "" and "." or shown, "list_files")
      if fs.lstat(real) ~= "directory" then error(("list_files: '%s' is not a directory"):format(shown), 0) end
      local names = assert(fs.list(real))
      if #names == 0 then return "(empty)" end
      for i, n in ipairs(names) do
        local kind = fs.lstat(real .. "/" .. n)
        names[i] = n .. (kind == "directory" and "/" or kind == "link" and "@" or "")
      end
      return table.concat(names, "\n")
    end,
  }
  return { read_file, writer("write_file", "wb", "Wrote"), writer("append_file", "ab", "Appended"), list_files,
           workspace = ws }
end

-- ------------------------------------------------------------------ calculator

--- calculator() -> calculate{expression}: arithmetic with its own parser.
function tools.calculator()
  return {
    name = "calculate",
    description = "Do arithmetic.",
    params = { type = "object", properties = { expression = { type = "string" } }, required = { "expression" },
               additionalProperties = false },
    run = function(args)
      local expr = str_arg(args, "expression", "calculate")
      local ok, v = pcall(calc.eval, expr)
      if not ok then error("calculate: " .. tostring(v), 0) end
      return calc.format(v)
    end,
  }
end

-- ------------------------------------------------------------------ lua_eval

--- lua_eval{instructions = 1e6, memory = 16 MiB, seconds = 1, output =
-- 4096} -> lua_eval{code}: runs Lua in a sandbox (vkagent.sandbox.eval):
-- no io, os, require, debug or binary chunks; each limit a clear error.
function tools.lua_eval(o)
  o = check_opts(o, { instructions = true, memory = true, seconds = true, output = true }, "tools.lua_eval")
  local limits = {
    instructions = math.tointeger(o.instructions or 1000000), memory = math.tointeger(o.memory or 16 * 1024 * 1024),
    seconds = o.seconds or 1, output = math.tointeger(o.output or 4096),
  }
  for k, v in pairs(limits) do
    if type(v) ~= "number" then error("tools.lua_eval: " .. k .. " must be a whole number", 2) end
  end
  return {
    name = "lua_eval",
    description = "Run Lua code.",
    params = { type = "object", properties = { code = { type = "string" } }, required = { "code" },
               additionalProperties = false },
    run = function(args)
      local code = str_arg(args, "code", "lua_eval")
      local ok, out = vkagent.sandbox.eval(code, limits)
      if not ok then error("lua_eval: " .. out, 0) end
      return out ~= "" and out or "(no output)"
    end,
  }
end

-- ------------------------------------------------------------------ memory

--- memory{path = FILE} -> remember{key, value}, recall{key}: a key-value
-- store kept as a JSON object in FILE (read when first used, written on
-- every change).
function tools.memory(o)
  o = check_opts(o, { path = true }, "tools.memory")
  if type(o.path) ~= "string" or o.path == "" then error("tools.memory: path must be a file path", 2) end
  local path = o.path
  local store
  local function load_store()
    if store then return store end
    local f = io.open(path, "rb")
    if not f then
      store = {}
      return store
    end
    local text = f:read("a")
    f:close()
    local ok, data = pcall(json.decode, text)
    if not ok or type(data) ~= "table" then error("memory: " .. path .. " is not a JSON object: " .. tostring(data), 0) end
    store = data
    return store
  end
  local function save()
    local tmp = path .. ".tmp"
    local f, err = io.open(tmp, "wb")
    if not f then error("remember: cannot write " .. tmp .. ": " .. err, 0) end
    f:write(json.encode(json.object(store), { indent = true }))
    f:close()
    local ok, rerr = os.rename(tmp, path)
    if not ok then error("remember: cannot replace " .. path .. ": " .. rerr, 0) end
  end
  local remember = {
    name = "remember",
    description = "Remember a value.",
    params = { type = "object", properties = props({ "key", "value" }, { key = { type = "string" }, value = { type = "string" } }),
               required = { "key", "value" }, additionalProperties = false },
    run = function(args)
      local key = trim(str_arg(args, "key", "remember"))
      if key == "" then error("remember: 'key' is empty", 0) end
      local value = str_arg(args, "value", "remember", true)
      load_store()[key] = value
      save()
      return ("Remembered '%s'."):format(key)
    end,
  }
  local recall = {
    name = "recall",
    description = "Recall a value.",
    params = { type = "object", properties = { key = { type = "string" } }, required = { "key" },
               additionalProperties = false },
    run = function(args)
      local key = trim(str_arg(args, "key", "recall"))
      local s = load_store()
      if s[key] ~= nil then return type(s[key]) == "string" and s[key] or json.encode(s[key]) end
      local keys = {}
      for k in pairs(s) do keys[#keys + 1] = k end
      table.sort(keys)
      error(("recall: nothing is remembered under '%s' (known keys: %s)"):format(key,
        #keys > 0 and table.concat(keys, ", ") or "none"), 0)
    end,
  }
  return { remember, recall }
end

return tools
