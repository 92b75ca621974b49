-- vkagent.schema — JSON Schema helpers for agents: a validator for the
-- subset the grammar engine supports (docs/structured-output.md), copies
-- with a fixed member order and bounded strings, and short descriptions of
-- a schema for prompts.
local vkagent = require "vkagent"
local json = vkagent.json

local M = {}

local function is_array(v)
  if type(v) ~= "table" then return false end
  local kind = json.kind(v)
  if kind then return kind == "array" end
  local n = 0
  for k in pairs(v) do
    if math.type(k) ~= "integer" then return false end
    n = n + 1
  end
  return n > 0 and n == #v
end

local function is_object(v)
  if type(v) ~= "table" or json.kind(v) == "array" then return false end
  for k in pairs(v) do
    if type(k) ~= "string" then return false end
  end
  return true
end

local function json_type_ok(v, t)
  if t == "null" then return v == json.null
  elseif t == "boolean" then return type(v) == "boolean"
  elseif t == "string" then return type(v) == "string"
  elseif t == "integer" then
    return math.type(v) == "integer" or (math.type(v) == "float" and v == math.floor(v))
  elseif t == "number" then return type(v) == "number"
  elseif t == "array" then return is_array(v) or (type(v) == "table" and next(v) == nil)
  elseif t == "object" then return is_object(v) end
  error("schema: unknown type '" .. tostring(t) .. "'", 0)
end

--- Deep equality of two decoded JSON values.
function M.equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not M.equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function resolve_ref(root, ref)
  if ref == "#" then return root end
  if ref:sub(1, 2) ~= "#/" then error("schema: only local $refs are supported, not '" .. ref .. "'", 0) end
  local node = root
  for part in ref:sub(3):gmatch("[^/]+") do
    part = part:gsub("~1", "/"):gsub("~0", "~")
    if type(node) ~= "table" then break end
    node = node[part] ~= nil and node[part] or node[tonumber(part) and tonumber(part) + 1]
  end
  if node == nil then error("schema: $ref '" .. ref .. "' points nowhere", 0) end
  return node
end

local annotations = {
  description = true, title = true, ["$schema"] = true, ["$id"] = true, ["$comment"] = true, default = true,
  examples = true, readOnly = true, writeOnly = true, deprecated = true, ["$defs"] = true, definitions = true,
}
local supported = {
  type = true, properties = true, required = true, additionalProperties = true, items = true, prefixItems = true,
  minItems = true, maxItems = true, enum = true, const = true, minLength = true, maxLength = true, minimum = true,
  maximum = true, exclusiveMinimum = true, exclusiveMaximum = true, anyOf = true, oneOf = true, ["$ref"] = true,
}

local validate

local function check_object(v, s, root, path)
  local props = s.properties or {}
  if s.required then
    for _, name in ipairs(s.required) do
      if v[name] == nil then return false, path .. ": missing required member '" .. name .. "'" end
    end
  end
  for k, member in pairs(v) do
    local ps = props[k]
    if ps ~= nil then
      local ok, err = validate(member, ps, root, path .. "." .. k)
      if not ok then return false, err end
    else
      local extra = s.additionalProperties
      if extra == nil then extra = s.properties == nil end
      if extra == false then return false, path .. ": unexpected member '" .. tostring(k) .. "'" end
      if type(extra) == "table" then
        local ok, err = validate(member, extra, root, path .. "." .. k)
        if not ok then return false, err end
      end
    end
  end
  return true
end

local function check_array(v, s, root, path)
  local n = #v
  if s.minItems and n < s.minItems then return false, path .. ": fewer than " .. s.minItems .. " items" end
  if s.maxItems and n > s.maxItems then return false, path .. ": more than " .. s.maxItems .. " items" end
  local prefix = s.prefixItems or {}
  for i = 1, n do
    local is = prefix[i]
    if is == nil then is = s.items end
    if is == false then return false, path .. ": no item allowed at [" .. i .. "]" end
    if type(is) == "table" then
      local ok, err = validate(v[i], is, root, path .. "[" .. i .. "]")
      if not ok then return false, err end
    end
  end
  return true
end

local function check_scalar(v, s, path)
  if type(v) == "string" then
    local len = utf8.len(v) or #v
    if s.minLength and len < s.minLength then return false, path .. ": shorter than " .. s.minLength .. " characters" end
    if s.maxLength and len > s.maxLength then return false, path .. ": longer than " .. s.maxLength .. " characters" end
  elseif type(v) == "number" then
    if s.minimum and v < s.minimum then return false, path .. ": below the minimum " .. s.minimum end
    if s.maximum and v > s.maximum then return false, path .. ": above the maximum " .. s.maximum end
    local xmin, xmax = s.exclusiveMinimum, s.exclusiveMaximum
    if type(xmin) == "number" and v <= xmin then return false, path .. ": not above " .. xmin end
    if type(xmax) == "number" and v >= xmax then return false, path .. ": not below " .. xmax end
    if xmin == true and s.minimum and v <= s.minimum then return false, path .. ": not above " .. s.minimum end
    if xmax == true and s.maximum and v >= s.maximum then return false, path .. ": not below " .. s.maximum end
  end
  return true
end

function validate(v, s, root, path)
  if s == true or s == nil then return true end
  if s == false then return false, path .. ": nothing is allowed here" end
  if type(s) ~= "table" then error("schema at " .. path .. ": a schema must be a table or a boolean", 0) end
  for k in pairs(s) do
    if not supported[k] and not annotations[k] then
      error("schema at " .. path .. ": unsupported keyword '" .. tostring(k) .. "'", 0)
    end
  end
  if s["$ref"] then
    local ok, err = validate(v, resolve_ref(root, s["$ref"]), root, path)
    if not ok then return false, err end
  end
  local alts = s.anyOf or s.oneOf
  if alts then
    local first_err
    local matched = false
    for _, alt in ipairs(alts) do
      local ok, err = validate(v, alt, root, path)
      if ok then matched = true break end
      first_err = first_err or err
    end
    if not matched then return false, path .. ": matches none of the alternatives (first: " .. tostring(first_err) .. ")" end
  end
  if s.const ~= nil and not M.equal(v, s.const) then
    return false, path .. ": must be " .. json.encode(s.const)
  end
  if s.enum then
    local found = false
    for _, e in ipairs(s.enum) do
      if M.equal(v, e) then found = true break end
    end
    if not found then return false, path .. ": must be one of " .. json.encode(s.enum) end
  end
  local t = s.type
  if t == nil then
    if s.properties or s.required or s.additionalProperties ~= nil then t = "object"
    elseif s.items ~= nil or s.prefixItems or s.minItems or s.maxItems then t = "array"
    elseif s.minLength or s.maxLength then t = "string" end
  end
  if t then
    local types = type(t) == "table" and t or { t }
    local ok = false
    for _, one in ipairs(types) do
      if json_type_ok(v, one) then ok = true break end
    end
    if not ok then
      return false, path .. ": must be " .. table.concat(types, " or ") .. ", got " .. M.type_of(v)
    end
  end
  if is_object(v) and (s.properties or s.required or s.additionalProperties ~= nil) and not is_array(v) then
    return check_object(v, s, root, path)
  elseif is_array(v) then
    return check_array(v, s, root, path)
  end
  return check_scalar(v, s, path)
end

--- check(schema): raises, naming the keyword and where, when the schema
-- uses a keyword outside the supported subset (anywhere inside it).
function M.check(s, path)
  path = path or "#"
  if type(s) == "boolean" then return end
  if type(s) ~= "table" then error("schema at " .. path .. ": a schema must be a table or a boolean", 0) end
  for k, v in pairs(s) do
    if not supported[k] and not annotations[k] then
      error("schema at " .. path .. ": unsupported keyword '" .. tostring(k) .. "'", 0)
    end
    if k == "properties" or k == "$defs" or k == "definitions" then
      if type(v) ~= "table" then error("schema at " .. path .. "/" .. k .. ": must be an object", 0) end
      for name, sub in pairs(v) do M.check(sub, path .. "/" .. k .. "/" .. tostring(name)) end
    elseif k == "items" or k == "additionalProperties" then
      M.check(v, path .. "/" .. k)
    elseif k == "anyOf" or k == "oneOf" or k == "prefixItems" then
      if type(v) ~= "table" then error("schema at " .. path .. "/" .. k .. ": must be an array", 0) end
      for i, sub in ipairs(v) do M.check(sub, path .. "/" .. k .. "/" .. (i - 1)) end
    end
  end
end

--- The JSON type of a decoded value, in words.
function M.type_of(v)
  if v == json.null then return "null" end
  if type(v) == "table" then return is_array(v) and "array" or "object" end
  if math.type(v) == "integer" then return "integer" end
  return type(v)
end

--- validate(value, schema) -> true | false, "$.path: what is wrong".
-- Raises for schemas outside the supported subset.
function M.validate(value, schema)
  return validate(value, schema, schema, "$")
end

--- A deep copy; tables keep their metatables (JSON array/object marks).
function M.copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = M.copy(v) end
  return setmetatable(c, getmetatable(t))
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- The order in which an object schema's members are generated: the
-- declared order of json.object(props, order) if any, else the required
-- members in their listed order, then the others sorted.
function M.member_order(s)
  local props = s.properties or {}
  local mt = getmetatable(props)
  local order, seen = {}, {}
  local declared = mt and mt.__jsonorder or s.required or {}
  for _, k in ipairs(declared) do
    if props[k] ~= nil and not seen[k] then order[#order + 1], seen[k] = k, true end
  end
  for _, k in ipairs(sorted_keys(props)) do
    if not seen[k] then order[#order + 1], seen[k] = k, true end
  end
  return order
end

--- A copy in which every `properties` table carries its member order (so
-- the grammar generates members as member_order says) and, when
-- max_string is given, every string without a length bound, enum or const
-- gets maxLength = max_string (so a reply's length is bounded).
function M.prepare(schema, max_string)
  local function walk(s)
    if type(s) ~= "table" then return s end
    local c = {}
    for k, v in pairs(s) do
      if k == "properties" then
        local props = {}
        for name, ps in pairs(v) do props[name] = walk(ps) end
        c.properties = props
      elseif k == "items" or k == "additionalProperties" then
        c[k] = walk(v)
      elseif k == "anyOf" or k == "oneOf" or k == "prefixItems" then
        local list = {}
        for i, alt in ipairs(v) do list[i] = walk(alt) end
        c[k] = json.array(list)
      elseif k == "$defs" or k == "definitions" then
        local defs = {}
        for name, d in pairs(v) do defs[name] = walk(d) end
        c[k] = defs
      else
        c[k] = M.copy(v)
      end
    end
    setmetatable(c, getmetatable(s))
    if c.properties then json.object(c.properties, M.member_order(s)) end
    local is_string = c.type == "string" or (type(c.type) == "table" and c.type[1] == "string" and #c.type == 1)
    if max_string and is_string and not c.maxLength and c.enum == nil and c.const == nil then
      c.maxLength = max_string
    end
    return c
  end
  return walk(schema)
end

local function short_type(s)
  if type(s) ~= "table" then return "any" end
  if s.const ~= nil then return json.encode(s.const) end
  if s.enum then
    local parts = {}
    for i, e in ipairs(s.enum) do parts[i] = json.encode(e) end
    return table.concat(parts, "|")
  end
  local t = s.type
  if type(t) == "table" then t = table.concat(t, "|") end
  if t == "array" and type(s.items) == "table" then return short_type(s.items) .. "[]" end
  if t == "integer" and (s.minimum or s.maximum) then
    return "integer " .. (s.minimum or "") .. ".." .. (s.maximum or "")
  end
  return t or (s.anyOf or s.oneOf) and "one of several" or "any"
end

--- "path: string, count?: integer" — an object schema's members for a
-- prompt ("?" marks optional ones). With `terse`, string members show
-- only their name: "path, count?: integer".
function M.describe(s, terse)
  if type(s) ~= "table" or not s.properties then return "" end
  local required = {}
  for _, k in ipairs(s.required or {}) do required[k] = true end
  local parts = {}
  for _, k in ipairs(M.member_order(s)) do
    local t = short_type(s.properties[k])
    parts[#parts + 1] = k .. (required[k] and "" or "?") .. ((terse and t == "string") and "" or ": " .. t)
  end
  return table.concat(parts, ", ")
end

return M
