-- test_json.lua — vkagent.json: the array/object rules, null, key order,
-- round trips (nested empties, unicode escapes), and errors with positions.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local json = require("vkagent").json

T.test("scalars encode as JSON text", function()
  T.eq(json.encode(nil), "null")
  T.eq(json.encode(json.null), "null")
  T.eq(json.encode(true), "true")
  T.eq(json.encode(false), "false")
  T.eq(json.encode(42), "42")
  T.eq(json.encode(-7), "-7")
  T.eq(json.encode(math.maxinteger), "9223372036854775807")
  T.eq(json.encode(0.5), "0.5")
  T.eq(json.encode(1e300), "1e+300")
  T.eq(json.encode("a\"b\\c\n\t\1"), [["a\"b\\c\n\t\u0001"]])
  T.eq(json.encode("é😀"), '"é😀"')         -- non-ASCII is written as it is
  T.eq(json.encode("a\0b"), [["a\u0000b"]])
end)

T.test("tables: arrays, objects, empty table, markers", function()
  T.eq(json.encode({ 1, 2, 3 }), "[1,2,3]")
  T.eq(json.encode({ b = 1, a = 2 }), '{"a":2,"b":1}')   -- sorted keys
  T.eq(json.encode({}), "{}")
  T.eq(json.encode(json.array()), "[]")
  T.eq(json.encode(json.array({})), "[]")
  T.eq(json.encode(json.object({})), "{}")
  T.eq(json.encode({ x = {}, y = json.array() }), '{"x":{},"y":[]}')
  T.eq(json.encode(json.object({ z = 1, a = 2, m = 3 }, { "z", "m" })), '{"z":1,"m":3,"a":2}')
  T.eq(json.kind(json.array()), "array")
  T.eq(json.kind(json.object()), "object")
  T.eq(json.kind({}), nil)
  T.eq(json.encode({ 1, { 2, { 3 } } }, { indent = true }), "[1, [2, [3]]]")
end)

T.test("tables that are neither arrays nor objects are errors naming the place", function()
  T.raises("a table mixes integer and string keys (not an array, not an object) at $", json.encode, { 1, a = 2 })
  T.raises("an array has holes (2 entries, highest index 3) at $.list", json.encode, { list = { [1] = 1, [3] = 3 } })
  T.raises("not boolean true at $", json.encode, { [true] = 1 })
  T.raises("not number 1.5 at $", json.encode, { [1.5] = 1 })
  T.raises("a function cannot be written as JSON at $.tools[2].run", json.encode,
    { tools = { { name = "a" }, { run = print } } })
  T.raises("NaN cannot be written as JSON at $[1]", json.encode, { 0 / 0 })
  T.raises("infinity cannot be written as JSON", json.encode, { math.huge })
  T.raises("string is not valid UTF-8 (byte 2) at $.s", json.encode, { s = "a\xff" })
  T.raises("a table marked as a JSON array has string keys", json.encode, json.array({ a = 1 }))
  local loop = {}
  loop.self = loop
  T.raises("nested deeper than 512", json.encode, loop)
  T.raises("unknown option 'pretty'", json.encode, {}, { pretty = true })
end)

T.test("decode: values, null sentinel, integers vs floats", function()
  local v = json.decode('{"a":[1,2.5,-3e2,null,true,false,"x"],"b":{}}')
  T.eq(v.a[1], 1)
  T.eq(math.type(v.a[1]), "integer")
  T.eq(v.a[2], 2.5)
  T.eq(v.a[3], -300)
  T.eq(math.type(v.a[3]), "integer")   -- whole and within 2^53
  T.eq(v.a[4], json.null)
  T.eq(tostring(json.null), "null")
  T.eq(v.a[5], true)
  T.eq(v.a[6], false)
  T.eq(v.a[7], "x")
  T.eq(#v.a, 7)
  T.eq(next(v.b), nil)
  T.eq(json.kind(v.a), "array")
  T.eq(math.type(json.decode("1e300")), "float")
  T.eq(json.decode("9007199254740993.5"), 9007199254740994.0)
end)

T.test("round trips keep nested empties, null and unicode", function()
  local cases = {
    '{"a":[],"b":{},"c":[[],{}],"d":{"e":[{}]}}',
    '[null,[null],{"n":null}]',
    '{"s":"é\\"\\\\\\n😀"}',
    '[]',
    '{}',
    '[[[[]]]]',
  }
  for _, text in ipairs(cases) do T.eq(json.encode(json.decode(text)), text) end
  -- Escapes decode to UTF-8 (U+00E9 is C3 A9; U+1F600 as a surrogate pair is F0 9F 98 80).
  T.eq(json.decode('"\\u00e9"'), "\xC3\xA9")
  T.eq(json.decode('"\\ud83d\\ude00"'), "\xF0\x9F\x98\x80")
  T.eq(json.decode('"\\u0041\\t"'), "A\t")
  T.eq(json.encode(json.decode('"\\u00e9\\ud83d\\ude00"')), '"é😀"')
end)

T.test("decode errors give line, column and byte", function()
  T.raises("invalid JSON at line 1, column 8 (byte 8), near '}'", json.decode, '{"a":1,}')
  T.raises("at line 3, column 3 (byte 13)", json.decode, '{\n "a": 1\n  x}')
  T.raises("invalid JSON at line 1, column 5 (byte 5), near '2'", json.decode, '[1, 2')
  T.raises("invalid JSON at line 1, column 4 (byte 4), near ',2]'", json.decode, '[1,,2]')
  T.raises("text after the JSON value at line 1, column 5 (byte 5), near '2'", json.decode, '[1] 2')
  T.raises("invalid UTF-8 at line 1, column 3 (byte 3)", json.decode, '["\xff"]')
  T.raises("invalid JSON", json.decode, '"\\ud83d"')    -- a lone surrogate
  T.raises("unexpected end of JSON at line 1, column 1", json.decode, "")
  T.raises("string expected, got table", json.decode, {})
end)

T.test("json.object validates its order list", function()
  T.raises("json.object: order[2] must be a string key", json.object, {}, { "a", 2 })
  T.raises("table expected, got number", json.array, 5)
end)

T.done()
