-- vkagent.schema — JSON Schema helpers for agents: a validator with the
-- semantics of draft 2020-12 for the keywords it checks (the grammar that
-- generated the value enforces all of them: this is a second, defensive
-- check), copies with a fixed member order and bounded strings, and short
-- descriptions of a schema for prompts.
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

--- The JSON type of a decoded value, in words.
function M.type_of(v)
  if v == json.null then return "null" end
  if type(v) == "table" then return is_array(v) and "array" or "object" end
  if math.type(v) == "integer" then return "integer" end
  return type(v)
end

-- ------------------------------------------------------------------ $ref

-- The subschema with `key` == value anywhere inside `root` ($anchor, $id).
local function find_by(root, key, value)
  local seen = {}
  local function walk(s)
    if type(s) ~= "table" or seen[s] then return nil end
    seen[s] = true
    if s[key] == value then return s end
    for _, sub in pairs(s) do
      local hit = walk(sub)
      if hit then return hit end
    end
    return nil
  end
  return walk(root)
end

local function follow_pointer(node, pointer, ref)
  for part in pointer:gmatch("[^/]+") do
    part = part:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    part = part:gsub("~1", "/"):gsub("~0", "~")
    if type(node) ~= "table" then node = nil break end
    local index = math.tointeger(tonumber(part))
    if node[part] ~= nil then node = node[part]
    elseif index then node = node[index + 1]
    else node = nil end
  end
  if node == nil then error("schema: $ref '" .. ref .. "' points nowhere", 0) end
  return node
end

-- "#", "#/json/pointer", "#anchor", and "id", "id#..." for a subschema
-- whose $id is exactly "id" (references within the document).
local function resolve_ref(root, ref)
  local base, frag = ref:match("^([^#]*)#?(.*)$")
  local doc = root
  if base ~= "" then
    doc = find_by(root, "$id", base)
    if not doc then error("schema: $ref '" .. ref .. "' names no $id inside the schema", 0) end
  end
  if frag == "" then return doc end
  if frag:sub(1, 1) == "/" then return follow_pointer(doc, frag:sub(2), ref) end
  local anchored = find_by(doc, "$anchor", frag)
  if not anchored then error("schema: $ref '" .. ref .. "' names no $anchor", 0) end
  return anchored
end

-- ------------------------------------------------------------------ validation

local validate

-- Each check returns true, or false and "path: what is wrong". `c` is the
-- context: {root, strict, oneof_as_anyof}. `inner` marks a subschema that
-- applies to the same value as its parent ($ref, allOf, anyOf, oneOf,
-- if/then/else, dependentSchemas).

local function count_members(v)
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n
end

-- The member names declared (properties, required) by `s` and by the
-- subschemas that apply to the same value with it (into `names`); false
-- when one of them allows undeclared members itself (additionalProperties
-- or patternProperties).
local function family_names(s, c, names, seen)
  if type(s) ~= "table" or seen[s] then return true end
  seen[s] = true
  if s.additionalProperties ~= nil or s.patternProperties ~= nil then return false end
  for k in pairs(type(s.properties) == "table" and s.properties or {}) do names[k] = true end
  for _, k in ipairs(type(s.required) == "table" and s.required or {}) do names[k] = true end
  local family = {}
  if s["$ref"] then family[1] = resolve_ref(c.root, s["$ref"]) end
  for _, key in ipairs({ "allOf", "anyOf", "oneOf" }) do
    for _, sub in ipairs(type(s[key]) == "table" and s[key] or {}) do family[#family + 1] = sub end
  end
  for _, key in ipairs({ "then", "else" }) do family[#family + 1] = s[key] end
  for _, sub in pairs(type(s.dependentSchemas) == "table" and s.dependentSchemas or {}) do family[#family + 1] = sub end
  for _, sub in pairs(family) do
    if not family_names(sub, c, names, seen) then return false end
  end
  return true
end

-- Strict: a member is allowed only where the schema, taken together with
-- the subschemas that apply to the same value, declares it or allows
-- undeclared ones. The converter merges those into one node and closes it
-- the same way; here every alternative's names count, which may let a
-- member through that the grammar (bound to one alternative) would not:
-- never the other way round.
local function check_strict(v, s, c, path)
  local names = {}
  if not family_names(s, c, names, {}) then return true end
  for k in pairs(v) do
    if not names[k] then return false, path .. ": unexpected member '" .. tostring(k) .. "'" end
  end
  return true
end

local function check_additional(v, s, c, path)
  local props = type(s.properties) == "table" and s.properties or {}
  local extra = s.additionalProperties
  if extra == nil then return true end
  -- patternProperties are ECMA-262 regular expressions, which Lua cannot
  -- match exactly: a member they might cover is left to the grammar.
  if s.patternProperties ~= nil and next(s.patternProperties) ~= nil then return true end
  for k, member in pairs(v) do
    if props[k] == nil then
      if extra == false then return false, path .. ": unexpected member '" .. tostring(k) .. "'" end
      if type(extra) == "table" then
        local ok, err = validate(member, extra, c, path .. "." .. k)
        if not ok then return false, err end
      end
    end
  end
  return true
end

-- dependentRequired (names), dependentSchemas (schemas), and draft 7's
-- dependencies (either, told apart by shape).
local function check_dependencies(v, s, c, path)
  for _, key in ipairs({ "dependentRequired", "dependentSchemas", "dependencies" }) do
    for name, dep in pairs(type(s[key]) == "table" and s[key] or {}) do
      local names = key == "dependentRequired" or (key == "dependencies" and is_array(dep))
      if v[name] ~= nil and names then
        for _, other in ipairs(dep) do
          if v[other] == nil then return false, path .. ": '" .. name .. "' requires member '" .. other .. "'" end
        end
      elseif v[name] ~= nil then
        local ok, err = validate(v, dep, c, path, true)
        if not ok then return false, err end
      end
    end
  end
  return true
end

local function check_object(v, s, c, path)
  for _, name in ipairs(s.required or {}) do
    if v[name] == nil then return false, path .. ": missing required member '" .. name .. "'" end
  end
  local n = count_members(v)
  if s.minProperties and n < s.minProperties then return false, path .. ": fewer than " .. s.minProperties .. " members" end
  if s.maxProperties and n > s.maxProperties then return false, path .. ": more than " .. s.maxProperties .. " members" end
  if type(s.properties) == "table" then
    for k, ps in pairs(s.properties) do
      if v[k] ~= nil then
        local ok, err = validate(v[k], ps, c, path .. "." .. k)
        if not ok then return false, err end
      end
    end
  end
  local ok, err = check_additional(v, s, c, path)
  if not ok then return false, err end
  if s.propertyNames ~= nil then
    for k in pairs(v) do
      local name_ok, name_err = validate(k, s.propertyNames, c, path .. " (member name '" .. tostring(k) .. "')")
      if not name_ok then return false, name_err end
    end
  end
  return check_dependencies(v, s, c, path)
end

local function check_array(v, s, c, path)
  local n = #v
  if s.minItems and n < s.minItems then return false, path .. ": fewer than " .. s.minItems .. " items" end
  if s.maxItems and n > s.maxItems then return false, path .. ": more than " .. s.maxItems .. " items" end
  -- prefixItems + items (2020-12), or items as a list + additionalItems (draft 4-7)
  local prefix, rest = s.prefixItems or {}, s.items
  if is_array(s.items) then prefix, rest = s.items, s.additionalItems end
  for i = 1, n do
    local is = prefix[i]
    if is == nil then is = rest end
    if is == false then return false, path .. ": no item allowed at [" .. i .. "]" end
    if type(is) == "table" then
      local ok, err = validate(v[i], is, c, path .. "[" .. i .. "]")
      if not ok then return false, err end
    end
  end
  if s.contains ~= nil then
    local hits = 0
    for i = 1, n do
      if validate(v[i], s.contains, c, path) then hits = hits + 1 end
    end
    local least = s.minContains or 1
    if hits < least then return false, path .. ": fewer than " .. least .. " items match 'contains'" end
    if s.maxContains and hits > s.maxContains then
      return false, path .. ": more than " .. s.maxContains .. " items match 'contains'"
    end
  end
  if s.uniqueItems == true then
    for i = 1, n do
      for j = i + 1, n do
        if M.equal(v[i], v[j]) then return false, path .. ": items [" .. i .. "] and [" .. j .. "] are equal" end
      end
    end
  end
  return true
end

local function check_number(v, s, path)
  if s.minimum and v < s.minimum then return false, path .. ": below the minimum " .. s.minimum end
  if s.maximum and v > s.maximum then return false, path .. ": above the maximum " .. s.maximum end
  local xmin, xmax = s.exclusiveMinimum, s.exclusiveMaximum
  if type(xmin) == "number" and v <= xmin then return false, path .. ": not above " .. xmin end
  if type(xmax) == "number" and v >= xmax then return false, path .. ": not below " .. xmax end
  -- draft 4: booleans that make minimum / maximum exclusive
  if xmin == true and s.minimum and v <= s.minimum then return false, path .. ": not above " .. s.minimum end
  if xmax == true and s.maximum and v >= s.maximum then return false, path .. ": not below " .. s.maximum end
  local m = s.multipleOf
  if type(m) == "number" and m > 0 then
    local whole
    if math.type(v) == "integer" and math.type(m) == "integer" then whole = v % m == 0
    else
      local q = v / m
      whole = q == math.floor(q)
    end
    if not whole then return false, path .. ": not a multiple of " .. m end
  end
  return true
end

local function check_string(v, s, path)
  local len = utf8.len(v) or #v
  if s.minLength and len < s.minLength then return false, path .. ": shorter than " .. s.minLength .. " characters" end
  if s.maxLength and len > s.maxLength then return false, path .. ": longer than " .. s.maxLength .. " characters" end
  return true
end

local function check_type(v, s, path)
  local t = s.type
  if t == nil then return true end
  local types = type(t) == "table" and t or { t }
  for _, one in ipairs(types) do
    if json_type_ok(v, one) then return true end
  end
  return false, path .. ": must be " .. table.concat(types, " or ") .. ", got " .. M.type_of(v)
end

-- allOf, anyOf, oneOf, not, if/then/else.
local function check_combinators(v, s, c, path)
  for _, sub in ipairs(s.allOf or {}) do
    local ok, err = validate(v, sub, c, path, true)
    if not ok then return false, err end
  end
  if s.anyOf then
    local first_err
    for _, alt in ipairs(s.anyOf) do
      local ok, err = validate(v, alt, c, path, true)
      if ok then first_err = nil break end
      first_err = first_err or err or "?"
    end
    if first_err then return false, path .. ": matches none of anyOf (first: " .. first_err .. ")" end
  end
  if s.oneOf then
    local matched, first_err = 0, nil
    for _, alt in ipairs(s.oneOf) do
      local ok, err = validate(v, alt, c, path, true)
      if ok then matched = matched + 1 else first_err = first_err or err end
    end
    if matched == 0 then return false, path .. ": matches none of oneOf (first: " .. tostring(first_err) .. ")" end
    if matched > 1 and not c.oneof_as_anyof then return false, path .. ": matches " .. matched .. " of oneOf, not one" end
  end
  if s["not"] ~= nil and validate(v, s["not"], c, path) then return false, path .. ": matches the schema of 'not'" end
  if s["if"] ~= nil then
    local branch = validate(v, s["if"], c, path, true) and s["then"] or s["else"]
    if branch ~= nil then
      local ok, err = validate(v, branch, c, path, true)
      if not ok then return false, err end
    end
  end
  return true
end

function validate(v, s, c, path, inner)
  if s == true or s == nil then return true end
  if s == false then return false, path .. ": nothing is allowed here" end
  if type(s) ~= "table" then error("schema at " .. path .. ": a schema must be a table or a boolean", 0) end
  if s["$ref"] then
    -- a $ref that leads back to itself without a value step would not end
    c.refs = c.refs + 1
    if c.refs > 5000 then error("schema: $ref '" .. s["$ref"] .. "' at " .. path .. " nests too deep", 0) end
    local ok, err = validate(v, resolve_ref(c.root, s["$ref"]), c, path, true)
    c.refs = c.refs - 1
    if not ok then return false, err end
  end
  local ok, err = check_combinators(v, s, c, path)
  if not ok then return false, err end
  if s.const ~= nil and not M.equal(v, s.const) then return false, path .. ": must be " .. json.encode(s.const) end
  if s.enum then
    local found = false
    for _, e in ipairs(s.enum) do
      if M.equal(v, e) then found = true break end
    end
    if not found then return false, path .. ": must be one of " .. json.encode(s.enum) end
  end
  ok, err = check_type(v, s, path)
  if not ok then return false, err end
  if type(v) == "string" then return check_string(v, s, path)
  elseif type(v) == "number" then return check_number(v, s, path)
  -- an empty table that json did not mark stands for [] where the schema wants an array
  elseif is_array(v) or (s.type == "array" and type(v) == "table" and next(v) == nil) then
    return check_array(v, s, c, path)
  elseif is_object(v) then
    if c.strict and not inner then
      local closed, why = check_strict(v, s, c, path)
      if not closed then return false, why end
    end
    return check_object(v, s, c, path)
  end
  return true
end

-- Subschemas by the keyword that holds them: one schema, a list, or a map.
local one_schema = { items = true, additionalProperties = true, additionalItems = true, contains = true,
  propertyNames = true, ["not"] = true, ["if"] = true, ["then"] = true, ["else"] = true,
  unevaluatedProperties = true, unevaluatedItems = true }
local schema_list = { allOf = true, anyOf = true, oneOf = true, prefixItems = true }
local schema_map = { properties = true, patternProperties = true, ["$defs"] = true, definitions = true,
  dependentSchemas = true }
local type_names = { null = true, boolean = true, integer = true, number = true, string = true, array = true,
  object = true }

--- check(schema): raises, naming where, when the schema is malformed: a
-- subschema that is not a table or a boolean, a list or map keyword of the
-- wrong shape, `required` not a list of strings, an unknown `type`. Other
-- keywords are left to the converter, which refuses what it cannot enforce
-- (unknown keywords are annotations, as the standard says).
function M.check(s, path)
  path = path or "#"
  if type(s) == "boolean" then return end
  if type(s) ~= "table" then error("schema at " .. path .. ": a schema must be a table or a boolean", 0) end
  for k, v in pairs(s) do
    local at = path .. "/" .. tostring(k)
    if k == "items" and is_array(v) then   -- draft 4-7: a list of schemas
      for i, sub in ipairs(v) do M.check(sub, at .. "/" .. (i - 1)) end
    elseif one_schema[k] then
      M.check(v, at)
    elseif schema_list[k] then
      if type(v) ~= "table" or (next(v) ~= nil and not is_array(v)) then error("schema at " .. at .. ": must be an array", 0) end
      for i, sub in ipairs(v) do M.check(sub, at .. "/" .. (i - 1)) end
    elseif schema_map[k] then
      if type(v) ~= "table" or is_array(v) then error("schema at " .. at .. ": must be an object", 0) end
      for name, sub in pairs(v) do M.check(sub, at .. "/" .. tostring(name)) end
    elseif k == "required" then
      if type(v) ~= "table" or (next(v) ~= nil and not is_array(v)) then error("schema at " .. at .. ": must be an array", 0) end
      for i, name in ipairs(v) do
        if type(name) ~= "string" then error(("schema at %s/%d: must be a string"):format(at, i - 1), 0) end
      end
    elseif k == "type" then
      for _, t in ipairs(type(v) == "table" and v or { v }) do
        if not type_names[t] then error("schema at " .. at .. ": unknown type '" .. tostring(t) .. "'", 0) end
      end
    end
  end
end

--- validate(value, schema, opts) -> true | false, "$.path: what is wrong".
-- opts.strict: an absent additionalProperties means false (as the
-- converter's strict option), instead of the standard's true.
-- opts.oneof_as_anyof: oneOf is satisfied by more than one alternative.
-- Not checked here (the grammar enforces them): pattern, format,
-- patternProperties, unevaluatedProperties / unevaluatedItems, $dynamicRef.
-- Other unknown keywords are annotations. Raises for a malformed schema or
-- a $ref that points nowhere.
function M.validate(value, schema, opts)
  opts = opts or {}
  local c = { root = schema, strict = opts.strict == true, oneof_as_anyof = opts.oneof_as_anyof == true, refs = 0 }
  return validate(value, schema, c, "$")
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
