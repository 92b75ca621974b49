-- vkagent.cli — small helpers for agent scripts run from the command line:
-- "--name value" options with defaults, and finding the default model.
--
--   local cli = require "vkagent.cli"
--   local opts = cli.parse(arg, {device = "auto", model = "", seed = 0},
--                          "usage: vkagent agent my.lua [--device D] [--model PATH] [--seed N]")
--   local model = vkagent.load(cli.find_model(opts.model), {device = opts.device})
local vkagent = require "vkagent"

local cli = {}

local function fail(usage, msg)
  io.stderr:write(msg, "\n", usage or "", "\n")
  os.exit(2)
end

--- parse(args, defaults, usage) -> options, positionals. Options are
-- "--name value" or "--name=value" (names with '-' map to '_'); a value's
-- type follows its default (number, string, boolean: "--flag" alone is
-- true). Unknown options, --help and bad values print the usage and exit.
function cli.parse(args, defaults, usage)
  local opts, rest = {}, {}
  for k, v in pairs(defaults) do opts[k] = v end
  local i = 1
  while args and args[i] do
    local a = args[i]
    if a == "--help" or a == "-h" then
      io.stdout:write(usage or "", "\n")
      os.exit(0)
    end
    local name, value = a:match("^%-%-([%w%-_]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-_]+)$") end
    if name then
      local key = name:gsub("%-", "_")
      local default = defaults[key]
      if default == nil then fail(usage, "unknown option --" .. name) end
      if type(default) == "boolean" and value == nil then
        opts[key] = true
      else
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then fail(usage, "--" .. name .. " needs a value") end
        end
        if type(default) == "number" then
          opts[key] = tonumber(value) or fail(usage, "--" .. name .. ": '" .. value .. "' is not a number")
        elseif type(default) == "boolean" then
          opts[key] = value == "true" or value == "1" or value == "yes"
        else
          opts[key] = value
        end
      end
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return opts, rest
end

local function is_file(path)
  return path and vkagent.fs.lstat(path) ~= nil and vkagent.fs.realpath(path) ~= nil
end

--- find_model(path) -> the model path: `path` if given (non-empty), else
-- $VKAGENT_MODEL, else models/*.gguf in the source tree (default.gguf
-- first), else ../shared/models/stories260K.gguf next to it. Raises with
-- the places it looked when there is none.
function cli.find_model(path)
  if path and path ~= "" then return path end
  local env = os.getenv("VKAGENT_MODEL")
  if env and env ~= "" then return env end
  local src = vkagent.source_dir
  local models = src .. "/models"
  if is_file(models .. "/default.gguf") then return models .. "/default.gguf" end
  for _, name in ipairs(vkagent.fs.list(models) or {}) do
    if name:match("%.gguf$") then return models .. "/" .. name end
  end
  local shared = src .. "/../shared/models/stories260K.gguf"
  if is_file(shared) then return shared end
  error(("no model given and none found. Looked at: --model (not given), $VKAGENT_MODEL (not set), %s/*.gguf, %s. "
    .. "HINT: pass --model PATH/TO/MODEL.gguf"):format(models, shared), 0)
end

return cli
