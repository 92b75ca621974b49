-- files.lua — an agent working in a workspace directory with the file tools
-- (read_file, write_file, append_file, list_files) and a memory. Paths are
-- confined to the workspace: the direct calls at the start show the
-- refusals an agent gets for '..', absolute paths and escaping links.
-- Run: vkagent agent examples/agents/files.lua [--device cpu] [--workspace DIR]
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local tools = require "vkagent.tools"
local cli = require "vkagent.cli"

local opts = cli.parse(arg, { device = "auto", model = "", seed = 11, steps = 6, workspace = "/tmp/vkagent-files" },
  "usage: vkagent agent examples/agents/files.lua [--device D] [--model PATH] [--seed N] [--steps N] [--workspace DIR]")

local files = tools.files{ root = opts.workspace }
local root = files.workspace.root
local by_name = {}
for _, t in ipairs(files) do by_name[t.name] = t end

by_name.write_file.run({ path = "todo.txt", content = "feed the cat\nwater the plants\n" })
print("list_files{path = \".\"} -> " .. by_name.list_files.run({ path = "." }):gsub("\n", ", "))
for _, bad in ipairs({ "../../etc/passwd", "/etc/passwd" }) do
  local ok, err = pcall(by_name.read_file.run, { path = bad })
  print(("read_file{path = %q} -> %s"):format(bad, ok and "read!" or ("refused: " .. err)))
end
os.execute(("ln -sf /etc '%s/etc-link'"):format(root))
local ok, err = pcall(by_name.read_file.run, { path = "etc-link/passwd" })
print("read_file{path = \"etc-link/passwd\"} -> " .. (ok and "read!" or ("refused: " .. err)))
os.remove(root .. "/etc-link")

local model = vkagent.load(cli.find_model(opts.model), { device = opts.device })
local agent = Agent.new{
  model = model,
  name = "Clerk",
  role = "a tidy office clerk",
  goals = { "Read todo.txt and add one more task to it." },
  max_steps = math.tointeger(opts.steps),
  seed = math.tointeger(opts.seed),
  workspace = root,
  on_step = function(step) print(Agent.format_step(step)) end,
}
-- Small models need bounded strings: a short path, a short line of text.
for _, t in ipairs(files) do
  t.params.properties.path.maxLength = 12
  if t.params.properties.content then t.params.properties.content.maxLength = 30 end
end
agent:tool(files)
local result = agent:run()
print(("status: %s%s"):format(result.status, result.reason and (" (" .. result.reason .. ")") or ""))
print("workspace now: " .. by_name.list_files.run({ path = "." }):gsub("\n", ", "))
