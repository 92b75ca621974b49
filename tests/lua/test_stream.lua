-- test_stream.lua — session:stream: the same text as session:generate for
-- the same prompt, parameters and seed; a bounded number of tokens per
-- call; coroutines; closing early; errors.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local json = vkagent.json

local model = T.stories()

local function generated(prompt, opts)
  local s = model:session()
  local text, info = s:generate(prompt, opts)
  local tokens = s:tokens()
  s:close()
  return text, info, tokens
end

local function streamed(prompt, opts, per_call)
  local s = model:session()
  local pieces, calls = {}, 0
  local st = s:stream(prompt, opts)
  while true do
    local piece = st:next(per_call)
    calls = calls + 1
    if piece == nil then break end
    pieces[#pieces + 1] = piece
  end
  local info = st:result()
  local tokens = s:tokens()
  s:close()
  return table.concat(pieces), info, tokens, calls, st
end

local cases = {
  { "greedy", "Once upon a time", { temperature = 0, max_tokens = 60 } },
  { "sampled", "The cat", { temperature = 1.0, seed = 5, max_tokens = 80 } },
  { "penalties", "Lily and Tom", { temperature = 0.9, seed = 9, max_tokens = 60, repeat_penalty = 1.3,
                                   frequency_penalty = 0.2, presence_penalty = 0.1 } },
  { "stop string", "Once upon a time", { temperature = 0, max_tokens = 100, stop = { "red ball", "zzz" } } },
  { "stop across tokens", "Once upon a time", { temperature = 0, max_tokens = 100, stop = "d Lily. She lo" } },
  { "json schema", "The cat", { seed = 2, max_tokens = 120, json_schema = { type = "object",
    properties = json.object({ a = { type = "string", maxLength = 20 }, b = { type = "boolean" } }, { "a", "b" }),
    required = { "a", "b" }, additionalProperties = false } } },
  { "until eos", "The cat", { temperature = 0, max_tokens = 0 } },
}

T.test("stream produces exactly what generate produces", function()
  for _, c in ipairs(cases) do
    local name, prompt, opts = c[1], c[2], c[3]
    local want, winfo, wtokens = generated(prompt, opts)
    if name:match("^stop") then T.eq(winfo.stop_reason, "stop_string", name) end
    if name == "json schema" then T.eq(winfo.stop_reason, "grammar", name) end
    for _, per_call in ipairs({ 1, 3, 1000 }) do
      local got, info, tokens = streamed(prompt, opts, per_call)
      T.eq(got, want, name .. " (" .. per_call .. " per call)")
      T.eq(info.stop_reason, winfo.stop_reason, name)
      T.eq(info.complete, winfo.complete, name)
      T.eq(info.n_generated, winfo.n_generated, name)
      T.eq(info.n_prompt_tokens, winfo.n_prompt_tokens, name)
      T.same(tokens, wtokens, name .. " session tokens")
    end
  end
end)

T.test("info.complete says whether output under a grammar reached its end", function()
  local grammar = 'root ::= ", there was a little girl"'
  local s = model:session()
  local st = s:stream("Once upon a time", { grammar = grammar, temperature = 0, tokens_per_call = 2 })
  st()
  st()
  T.eq(st:result().complete, false)    -- under way
  while st() do end
  T.eq(st:result().stop_reason, "grammar")
  T.eq(st:result().complete, true)
  s:reset()
  st = s:stream("Once upon a time", { grammar = grammar, temperature = 0, max_tokens = 3 })
  for _ in st do end
  T.eq(st:result().stop_reason, "max_tokens")
  T.eq(st:result().complete, false)
  s:reset()
  st = s:stream("Once upon a time", { grammar = grammar, temperature = 0 })
  st()
  st()
  st:close()                            -- ended early
  T.eq(st:result().stop_reason, "cancelled")
  T.eq(st:result().complete, false)
  s:close()
end)

T.test("each call advances at most the given number of tokens", function()
  local s = model:session()
  local st = s:stream("Once upon a time", { temperature = 0, max_tokens = 20, tokens_per_call = 2 })
  local first = st()            -- the first call feeds the prompt
  T.eq(first, "")
  T.eq(s:n_past(), 5)
  local before = st:result().n_generated
  st()
  T.eq(st:result().n_generated - before, 2)
  st:next(5)
  T.eq(st:result().n_generated - before, 7)
  T.eq(st:done(), false)
  while st:next(100) do end
  T.eq(st:done(), true)
  T.eq(st:result().n_generated, 20)
  T.eq(st:result().stop_reason, "max_tokens")
  T.eq(st:next(), nil)          -- stays finished
  s:close()
end)

T.test("prefill in chunks gives the same text", function()
  local want = generated("Once upon a time, there was a little girl", { temperature = 0, max_tokens = 30 })
  local s = model:session()
  local st = s:stream("Once upon a time, there was a little girl", { temperature = 0, max_tokens = 30, prefill_chunk = 3 })
  local pieces, prefill_calls = {}, 0
  for piece in st do
    if s:n_past() < 12 then prefill_calls = prefill_calls + 1 end
    pieces[#pieces + 1] = piece
  end
  T.eq(table.concat(pieces), want)
  T.ok(prefill_calls >= 3, "the prompt was fed over several calls")
  s:close()
end)

T.test("coroutines: two NPCs advanced in turns, each a few tokens per frame", function()
  local function npc(prompt, seed)
    return coroutine.wrap(function()
      local s <close> = model:session()
      local out = {}
      for piece in s:stream(prompt, { seed = seed, max_tokens = 24, tokens_per_call = 4 }) do
        out[#out + 1] = piece
        coroutine.yield(false)
      end
      coroutine.yield(true, table.concat(out))
    end)
  end
  local a, b = npc("The cat", 1), npc("Lily and Tom", 2)
  local done, texts, frames = {}, {}, 0
  while not (done.a and done.b) do
    frames = frames + 1
    if not done.a then done.a, texts.a = a() end
    if not done.b then done.b, texts.b = b() end
  end
  T.eq(texts.a, (generated("The cat", { seed = 1, max_tokens = 24 })))
  T.eq(texts.b, (generated("Lily and Tom", { seed = 2, max_tokens = 24 })))
  T.ok(frames >= 6, "24 tokens at 4 per frame take at least 6 frames")
end)

T.test("breaking out of the loop closes the stream and frees the session", function()
  local s = model:session()
  local n = 0
  for _ in s:stream("The cat", { max_tokens = 50 }) do
    n = n + 1
    if n == 3 then break end
  end
  local text = s:generate("", { max_tokens = 3 })   -- usable again
  T.eq(type(text), "string")
  local st = s:stream("x", { max_tokens = 50 })
  st()
  st:close()
  T.eq(st:result().stop_reason, "cancelled")
  T.eq(st:next(), nil)
  T.ok(#st:text() >= 0)
  s:close()
end)

T.test("while a stream is open its session refuses other work", function()
  local s = model:session()
  local st = s:stream("The cat", { max_tokens = 5 })
  T.raises("session:generate: a stream is open on this session", s.generate, s, "x")
  T.raises("session:stream: a stream is open on this session", s.stream, s, "x")
  T.raises("session:reset: a stream is open", s.reset, s)
  T.raises("session:rewind: a stream is open", s.rewind, s, 0)
  for _ in st do end
  s:reset()   -- free again once it has finished
  local st2 = s:stream("The cat", { max_tokens = 50 })
  st2()
  s:close()   -- closing the session under a stream ends the stream with an error, not a crash
  T.raises("stream:next: the session was closed", st2.next, st2)
  T.eq(st2:next(), nil)
end)

T.test("stream argument and option errors", function()
  local s = model:session()
  T.raises("session:stream: unknown option 'on_token'", s.stream, s, "x", { on_token = print })
  T.raises("session:stream: opts.tokens_per_call must be at least 1", s.stream, s, "x", { tokens_per_call = 0 })
  T.raises("session:stream: opts.prefill_chunk must be 0", s.stream, s, "x", { prefill_chunk = -1 })
  T.raises("session:stream: argument #1 (prompt) must be a string or a list of token ids, got number", s.stream, s, 5)
  T.raises("session:stream: nothing to continue", s.stream, s, {})
  T.raises("session:stream: ", s.stream, s, "x", { grammar = "root ::= [" })
  local st = s:stream("The cat", { max_tokens = 3 })
  T.raises("stream:next: the number of tokens must be at least 1, got 0", st.next, st, 0)
  T.raises("stream:next: argument #1 must be a vkagent stream, got table", st.next, {})
  st:close()
  s:close()
end)

T.done()
