-- test_docs.lua — every ```lua snippet of docs/lua.md runs as it is, with
-- `vkagent agent`, from the checkout (they use the default model).
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"

if not T.fixture("models/stories260K.gguf") then T.skip_all("missing fixture models/stories260K.gguf") end

local f = assert(io.open(T.source_dir .. "/docs/lua.md", "rb"))
local doc = f:read("a")
f:close()

local snippets = {}
for heading_pos, code in doc:gmatch("()```lua\n(.-)```") do
  local heading = doc:sub(1, heading_pos):match(".*\n## ([^\n]+)") or "top"
  snippets[#snippets + 1] = { heading = heading, code = code }
end

T.test("docs/lua.md has a snippet for each part of the API", function()
  local seen = {}
  for _, s in ipairs(snippets) do seen[s.heading:match("^(%S+)")] = true end
  for _, part in ipairs({ "load:", "session:", "generate", "chat", "stream:", "json", "Agent", "tools" }) do
    T.ok(seen[part], "a snippet under the heading " .. part)
  end
end)

local exe = T.build_dir .. "/cli/vkagent"
for i, s in ipairs(snippets) do
  T.test(("snippet %d (%s) runs"):format(i, s.heading), function()
    local path = os.tmpname() .. ".lua"
    local out_file = io.open(path, "w")
    out_file:write(s.code)
    out_file:close()
    local p = io.popen(("cd '%s' && VKAGENT_DEVICE=cpu '%s' agent '%s' 2>&1; echo \"rc=$?\""):format(T.source_dir, exe, path))
    local out = p:read("a")
    p:close()
    os.remove(path)
    T.contains(out, "rc=0\n", "snippet output:\n" .. out)
  end)
end

T.done()
