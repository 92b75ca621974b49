-- calculator.lua — an agent with the calculator tool: arguments checked by
-- the schema, arithmetic errors coming back as observations, and the
-- built-in finish tool. The calculator is also called directly first.
-- Run: vkagent agent examples/agents/calculator.lua [--device cpu] [--seed N]
local vkagent = require "vkagent"
local Agent = require "vkagent.agent"
local tools = require "vkagent.tools"
local cli = require "vkagent.cli"

local opts = cli.parse(arg, { device = "auto", model = "", seed = 3, steps = 6 },
  "usage: vkagent agent examples/agents/calculator.lua [--device D] [--model PATH] [--seed N] [--steps N]")

local calculate = tools.calculator()
-- A tool spec is plain Lua: its run() can be called without an agent.
print("calculate{expression = \"2 * (3 + 4) ^ 2\"} -> " .. calculate.run({ expression = "2 * (3 + 4) ^ 2" }))
local ok, err = pcall(calculate.run, { expression = "1 / (2 - 2)" })
print("calculate{expression = \"1 / (2 - 2)\"} -> error: " .. tostring(err))

local model = vkagent.load(cli.find_model(opts.model), { device = opts.device })
-- A 260K-parameter model writes odd expressions; a bound keeps them short
-- (and the errors they cause come back to it as observations).
calculate.params.properties.expression.maxLength = 16

local agent = Agent.new{
  model = model,
  name = "Abacus",
  role = "a helper who does sums",
  goals = { "Work out 12 times 7 with the calculator, then finish with the answer." },
  max_steps = math.tointeger(opts.steps),
  seed = math.tointeger(opts.seed),
  on_step = function(step) print(Agent.format_step(step)) end,
}
agent:tool(calculate)
local result = agent:run()
print(("status: %s%s"):format(result.status, result.reason and (" (" .. result.reason .. ")") or ""))
if result.status == "done" then print("answer: " .. tostring(result.result)) end
local errors = 0
for _, step in ipairs(result.steps) do if step.tool_error then errors = errors + 1 end end
print(("%d steps, %d of them with a tool error shown to the model"):format(#result.steps, errors))
