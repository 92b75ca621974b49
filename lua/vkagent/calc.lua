-- vkagent.calc — an arithmetic evaluator with its own parser (no `load`):
-- numbers, + - * / % ^ (power, right-associative), unary minus, parentheses,
-- the constants pi and e, and the functions listed in `functions`. Errors
-- name the position (1-based, in characters).
local M = {}

local MAX_LENGTH = 1000
local MAX_DEPTH = 100

local functions = {
  sqrt = { 1, math.sqrt }, abs = { 1, math.abs }, floor = { 1, math.floor }, ceil = { 1, math.ceil },
  round = { 1, function(x) return x >= 0 and math.floor(x + 0.5) or -math.floor(-x + 0.5) end },
  exp = { 1, math.exp }, ln = { 1, math.log }, log10 = { 1, function(x) return math.log(x, 10) end },
  log = { 1, math.log }, sin = { 1, math.sin }, cos = { 1, math.cos }, tan = { 1, math.tan },
  asin = { 1, math.asin }, acos = { 1, math.acos }, atan = { 1, math.atan },
  min = { -1, math.min }, max = { -1, math.max },
}
local constants = { pi = math.pi, e = math.exp(1) }

-- Tokens: {kind = "num"|"id"|"op", value, pos}.
local function tokenize(src)
  local tokens, i = {}, 1
  while i <= #src do
    local c = src:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c:match("[%d%.]") then
      local s, e = src:find("^%d*%.?%d*", i)
      local e2 = select(2, src:find("^[eE][%+%-]?%d+", e + 1))
      if e2 then e = e2 end
      local text = src:sub(s, e)
      local v = tonumber(text)
      if not v or text == "." then error({ pos = i, msg = "malformed number '" .. text .. "'" }) end
      -- floats throughout: integer arithmetic would wrap around silently
      tokens[#tokens + 1] = { kind = "num", value = v + 0.0, pos = i }
      i = e + 1
    elseif c:match("[%a_]") then
      local s, e = src:find("^[%w_]+", i)
      tokens[#tokens + 1] = { kind = "id", value = src:sub(s, e):lower(), pos = i }
      i = e + 1
    elseif c:match("[%+%-%*/%%%^%(%),]") then
      if c == "*" and src:sub(i + 1, i + 1) == "*" then   -- ** as power, as people often write it
        tokens[#tokens + 1] = { kind = "op", value = "^", pos = i }
        i = i + 2
      else
        tokens[#tokens + 1] = { kind = "op", value = c, pos = i }
        i = i + 1
      end
    else
      error({ pos = i, msg = "unexpected character '" .. c .. "'" })
    end
  end
  tokens[#tokens + 1] = { kind = "end", value = "end of input", pos = #src + 1 }
  return tokens
end

local Parser = {}
Parser.__index = Parser

function Parser:peek() return self.tokens[self.i] end
function Parser:next()
  local t = self.tokens[self.i]
  self.i = self.i + 1
  return t
end
function Parser:fail(t, msg) error({ pos = t.pos, msg = msg }) end
function Parser:expect(op)
  local t = self:next()
  if t.kind ~= "op" or t.value ~= op then
    self:fail(t, ("expected '%s' but found %s"):format(op, t.kind == "end" and "the end" or "'" .. tostring(t.value) .. "'"))
  end
end
function Parser:enter()
  self.depth = self.depth + 1
  if self.depth > MAX_DEPTH then self:fail(self:peek(), "expression nested too deeply") end
end

local function check(v, t, what)
  if v ~= v or v == math.huge or v == -math.huge then error({ pos = t.pos, msg = what or "the result is not a finite number" }) end
  return v
end

function Parser:expr()
  self:enter()
  local v = self:term()
  while true do
    local t = self:peek()
    if t.kind == "op" and (t.value == "+" or t.value == "-") then
      self:next()
      local r = self:term()
      v = check(t.value == "+" and v + r or v - r, t)
    else break end
  end
  self.depth = self.depth - 1
  return v
end

function Parser:term()
  local v = self:unary()
  while true do
    local t = self:peek()
    if t.kind == "op" and (t.value == "*" or t.value == "/" or t.value == "%") then
      self:next()
      local r = self:unary()
      if (t.value == "/" or t.value == "%") and r == 0 then self:fail(t, "division by zero") end
      if t.value == "*" then v = v * r elseif t.value == "/" then v = v / r else v = math.fmod(v, r) end
      check(v, t)
    else break end
  end
  return v
end

function Parser:unary()
  local t = self:peek()
  if t.kind == "op" and (t.value == "-" or t.value == "+") then
    self:next()
    self:enter()
    local v = self:unary()
    self.depth = self.depth - 1
    return t.value == "-" and -v or v
  end
  return self:power()
end

function Parser:power()
  local base = self:atom()
  local t = self:peek()
  if t.kind == "op" and t.value == "^" then
    self:next()
    self:enter()
    local e = self:unary()
    self.depth = self.depth - 1
    return check(base ^ e, t)
  end
  return base
end

function Parser:atom()
  local t = self:next()
  if t.kind == "num" then return t.value end
  if t.kind == "op" and t.value == "(" then
    local v = self:expr()
    self:expect(")")
    return v
  end
  if t.kind == "id" then
    if constants[t.value] then return constants[t.value] end
    local f = functions[t.value]
    if not f then self:fail(t, "unknown name '" .. t.value .. "'") end
    self:expect("(")
    local args = { self:expr() }
    while self:peek().kind == "op" and self:peek().value == "," do
      self:next()
      args[#args + 1] = self:expr()
    end
    self:expect(")")
    if f[1] >= 0 and #args ~= f[1] then
      self:fail(t, ("%s takes %d argument%s, got %d"):format(t.value, f[1], f[1] == 1 and "" or "s", #args))
    end
    return check(f[2](table.unpack(args)) + 0.0, t, t.value .. ": the result is not a finite number")
  end
  if t.kind == "end" then self:fail(t, "the expression ends too early") end
  self:fail(t, "unexpected '" .. tostring(t.value) .. "'")
end

--- eval(expression) -> number; raises "position N: message".
function M.eval(src)
  if type(src) ~= "string" then error("expression must be a string, got " .. type(src), 2) end
  if #src > MAX_LENGTH then error(("expression longer than %d characters"):format(MAX_LENGTH), 2) end
  local ok, v = pcall(function()
    local p = setmetatable({ tokens = tokenize(src), i = 1, depth = 0 }, Parser)
    local value = p:expr()
    local t = p:peek()
    if t.kind ~= "end" then p:fail(t, "unexpected '" .. tostring(t.value) .. "' after the expression") end
    return value
  end)
  if ok then return v end
  if type(v) == "table" then error(("position %d: %s"):format(v.pos, v.msg), 2) end
  error(v, 2)
end

--- The number as text: whole numbers without a fraction, others with up to
-- 12 significant digits.
function M.format(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v == math.floor(v) and math.abs(v) < 1e15 then return ("%d"):format(v) end
  return ("%.12g"):format(v)
end

return M
