-- storyteller.lua — the default demo: an agent on stories260K writes a short
-- story into its workspace through tool calls (append_file, read_file,
-- finish), printing each step — thought, tool call, observation —
-- as it happens. Run: vkagent agent examples/agents/storyteller.lua [--device cpu]
-- The same agent runs against a server: --url http://127.0.0.1:8080 (a
-- `vkagent serve`, or another OpenAI-compatible server) instead of a local model.
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local tools = require "vkagent.tools"
local cli = require "vkagent.cli"

local usage = [[
usage: vkagent agent examples/agents/storyteller.lua [options]
  --device D      auto, cpu, vulkan, vulkan:N (default: auto)
  --model PATH    GGUF model (default: stories260K)
  --url URL       use the model of a server (vkagent serve) instead of --model
  --api-key KEY   the server's key (default: $VKAGENT_API_KEY)
  --workspace DIR where the story is written (default: /tmp/vkagent-storyteller)
  --steps N       step limit (default 8)
  --seed N        sampling seed (default 42)
  --temperature T (default 0.8)
  --top-k N, --top-p P, --min-p P  (default: the library's; a server's own for --url)]]
local opts = cli.parse(arg, { device = "auto", model = "", url = "", api_key = "", workspace = "/tmp/vkagent-storyteller",
                               steps = 8, seed = 42, temperature = 0.8, top_k = -1, top_p = -1, min_p = -1 }, usage)
local function given(v) return v >= 0 and v or nil end

local model
if opts.url ~= "" then
  model = vkagent.connect{ url = opts.url, api_key = opts.api_key ~= "" and opts.api_key or nil }
else
  model = vkagent.load(cli.find_model(opts.model), { device = opts.device })
end
local info = model:info()
print(("model: %s (%s), %d-token context, on %s"):format(info.name, info.architecture, info.n_ctx, info.device))

-- The file tools, narrowed for a 512-token model: one file, which grows by
-- appending, and pieces short enough that prompt, history and reply fit the
-- context. A spec is plain Lua, so a tool can be wrapped: this one tidies
-- each piece (a tiny model often starts a string with ". ").
local files = tools.files{ root = opts.workspace }
local story_tools = {}
for _, t in ipairs(files) do
  if t.name == "append_file" or t.name == "read_file" then
    t.params.properties.path = { enum = { "story.txt" } }
    if t.name == "append_file" then
      t.params.properties.content.maxLength = 60
      local append = t.run
      t.run = function(args, ctx)
        local piece = args.content:gsub("^[%s%.,;:!?]+", ""):gsub("%s+$", "")
        return append({ path = args.path, content = piece .. " " }, ctx)
      end
    end
    story_tools[#story_tools + 1] = t
  end
end
os.remove(opts.workspace .. "/story.txt")

local agent = Agent.new{
  model = model,
  name = "Teller",
  role = "a storyteller",
  goals = { "Write a short story about a cat into story.txt." },
  constraints = { "Add one part at a time." },
  max_steps = opts.steps,
  seed = math.tointeger(opts.seed),
  temperature = opts.temperature,
  top_k = given(math.tointeger(opts.top_k) or -1), top_p = given(opts.top_p), min_p = given(opts.min_p),
  workspace = opts.workspace,
  on_step = function(step)
    print(Agent.format_step(step))
    io.stdout:flush()
  end,
}
agent:tool(story_tools)

print(("workspace: %s\n"):format(files.workspace.root))
local result = agent:run()
print(("\nstatus: %s%s, %d steps, %d tokens"):format(result.status,
  result.reason and (" (" .. result.reason .. ")") or "", #result.steps, result.tokens_used))
if result.result then print("result: " .. result.result) end

local f = io.open(files.workspace.root .. "/story.txt", "rb")
if f then
  local story = f:read("a")
  f:close()
  print(("\n--- %s/story.txt (%d bytes) ---\n%s"):format(files.workspace.root, #story, story))
else
  print("\n(no story.txt was written)")
end
