-- test_binding.lua — the vkagent module's model and session functions on
-- stories260K, with their error paths: wrong argument types, unknown
-- options, use after close, errors inside callbacks. Expected texts and
-- token ids come from the fixture's goldens (llama2.c's run.c).
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local json = vkagent.json

local model, model_path = T.stories()
local golden
do
  local f = assert(io.open(T.data_dir .. "/models/stories260K.golden.json", "rb"))
  golden = json.decode(f:read("a"))
  f:close()
end
local function golden_run(prompt, steps)
  for _, g in ipairs(golden.greedy) do
    if g.prompt == prompt and g.steps == steps then return g end
  end
  error("no golden run for " .. prompt)
end

T.test("vkagent.version and the module table", function()
  T.eq(vkagent.version(), "0.1.0")
  T.eq(type(vkagent.load), "function")
  T.eq(type(vkagent.json.null), "userdata")
  T.eq(type(vkagent.source_dir), "string")
end)

T.test("vkagent.load: errors name the argument, the option or the file", function()
  T.raises("vkagent.load: argument #1 (path) must be a string, got nothing", vkagent.load)
  T.raises("vkagent.load: options must be a table, got number", vkagent.load, model_path, 5)
  T.raises("vkagent.load: unknown option 'devise'", vkagent.load, model_path, { devise = "cpu" })
  T.raises("vkagent.load: opts.device must be a string, got number", vkagent.load, model_path, { device = 1 })
  T.raises("vkagent.load: opts.n_ctx must be an integer, got number", vkagent.load, model_path, { n_ctx = 1.5 })
  T.raises("vkagent.load: opts.vocab_only must be a boolean", vkagent.load, model_path, { vocab_only = "yes" })
  local msg = T.raises("vkagent.load: ", vkagent.load, "/nonexistent/model.gguf")
  T.contains(msg, "/nonexistent/model.gguf")
  T.raises("vkagent.load: ", vkagent.load, model_path, { device = "no-such-device" })
end)

T.test("model:info reports the fixture's hyperparameters", function()
  local info = model:info()
  -- From the fixture README: dim 64, 5 layers, 8 heads, 4 KV heads, vocab 512, context 512.
  T.eq(info.architecture, "llama")
  T.eq(info.name, "stories260K")
  T.eq(info.n_vocab, 512)
  T.eq(info.n_ctx_train, 512)
  T.eq(info.n_embd, 64)
  T.eq(info.n_layer, 5)
  T.eq(info.n_head, 8)
  T.eq(info.n_head_kv, 4)
  T.eq(info.n_ff, 172)
  T.eq(info.token_bos, 1)
  T.eq(info.token_eos, 2)
  T.eq(info.add_bos, true)
  T.eq(info.tokenizer, "llama")
  T.eq(info.chat_template, "chatml")
  T.eq(info.chat_template_recognised, false)
  T.eq(info.n_ctx, 512)
  T.contains(info.device, "cpu")
  T.contains(tostring(model), "vkagent.model (stories260K")
  T.raises("model:info: argument #1 must be a vkagent model, got string", model.info, "x")
end)

T.test("model:tokenize / detokenize match the golden prompt ids", function()
  T.same(model:tokenize("Once upon a time"), golden.prompt_tokens)   -- {1, 403, 407, 261, 378}
  T.same(model:tokenize("Once upon a time", { bos = false }), { 403, 407, 261, 378 })
  T.eq(model:detokenize(golden.prompt_tokens), "Once upon a time")
  T.eq(model:detokenize({}), "")
  T.eq(model:detokenize({ 1 }, { special = true }), "<s>")
  T.same(model:tokenize("<s>", { special = true, bos = false }), { 1 })
  T.eq(model:token_text(403), "▁Once")
  T.eq(model:meta("general.name"), "stories260K")
  T.eq(model:meta("no.such.key"), nil)
  T.raises("model:tokenize: argument #1 (text) must be a string, got table", model.tokenize, model, {})
  T.raises("model:detokenize: argument #1 (ids) must be a table, got string", model.detokenize, model, "1 2")
  T.raises("model:token_text: argument #1 (id) must be an integer, got number", model.token_text, model, 1.5)
  T.raises("model:tokenize: unknown option 'add_bos'", model.tokenize, model, "x", { add_bos = true })
  T.raises("model:detokenize: ids[2] must be an integer token id, got string", model.detokenize, model, { 1, "x" })
  T.raises("model:detokenize: ids[1] = 512 is not a token of this model (0..511)", model.detokenize, model, { 512 })
  T.raises("model:detokenize: ids[1] = -1 is not a token", model.detokenize, model, { -1 })
  T.raises("model:token_text: 9999 is not a token of this model", model.token_text, model, 9999)
end)

T.test("model:apply_chat_template renders ChatML for a model without a template", function()
  local text = model:apply_chat_template({ { role = "user", content = "Hi!" } })
  T.eq(text, "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n")
  T.eq(model:apply_chat_template('[{"role":"user","content":"Hi!"}]', { add_generation_prompt = false }),
    "<|im_start|>user\nHi!<|im_end|>\n")
  T.raises("model:apply_chat_template: messages must be a table or a JSON string, got number",
    model.apply_chat_template, model, 5)
  T.raises("model:apply_chat_template: ", model.apply_chat_template, model, "[{]")
  T.raises("model:apply_chat_template: ", model.apply_chat_template, model, {}, { template = "no-such-family" })
end)

T.test("session:generate at temperature 0 reproduces the golden greedy runs", function()
  local s = model:session()
  for _, prompt in ipairs({ "Once upon a time", "The cat" }) do
    s:reset()
    local g = golden_run(prompt, 64)
    local text, info = s:generate(prompt, { temperature = 0, max_tokens = g.generated_new_tokens })
    T.eq(text, g.text:sub(#prompt + 1))
    T.eq(info.stop_reason, "max_tokens")
    T.eq(info.n_generated, g.generated_new_tokens)
    T.eq(info.n_prompt_tokens, #g.prompt_tokens)
    T.eq(info.n_past, #g.prompt_tokens + g.generated_new_tokens)
    T.eq(s:n_past(), info.n_past)
    T.same(s:tokens(), g.tokens)
  end
  s:close()
end)

T.test("session:generate with token ids, stop strings, seeds, and on_token", function()
  local s = model:session()
  local g = golden_run("Once upon a time", 64)
  local text = s:generate(g.prompt_tokens, { temperature = 0, max_tokens = 10 })
  T.eq(text, model:detokenize({ table.unpack(g.tokens, 6, 15) }))
  -- A stop string ends generation and is not emitted (golden: "... named Lily. She loved ...").
  s:reset()
  local t2, i2 = s:generate("Once upon a time", { temperature = 0, max_tokens = 60, stop = "Lily" })
  T.eq(t2, ", there was a little girl named ")
  T.eq(i2.stop_reason, "stop_string")
  s:reset()
  local t3 = s:generate("Once upon a time", { temperature = 0, max_tokens = 60, stop = { "park", "Lily" } })
  T.eq(t3, ", there was a little girl named ")
  -- The same seed gives the same text; pieces passed to on_token add up to it.
  local texts = {}
  for run = 1, 2 do
    s:reset()
    local pieces = {}
    local t = s:generate("The cat", { seed = 7, temperature = 1.0, max_tokens = 40,
      on_token = function(piece, id)
        assert(math.type(id) == "integer")
        pieces[#pieces + 1] = piece
      end })
    T.eq(table.concat(pieces), t)
    texts[run] = t
  end
  T.eq(texts[1], texts[2])
  -- on_token returning false stops at once.
  s:reset()
  local count = 0
  local t4, i4 = s:generate("The cat", { temperature = 0, max_tokens = 40, on_token = function()
    count = count + 1
    return count < 3
  end })
  T.eq(i4.stop_reason, "callback")
  T.eq(count, 3)
  T.ok(#t4 > 0)
  s:close()
end)

T.test("session:generate: wrong types and options are errors naming them", function()
  local s = model:session()
  T.raises("session:generate: argument #1 (prompt) must be a string or a list of token ids, got nothing", s.generate, s)
  T.raises("session:generate: unknown option 'temprature'", s.generate, s, "x", { temprature = 1 })
  T.raises("session:generate: opts.max_tokens must be an integer, got string", s.generate, s, "x", { max_tokens = "5" })
  T.raises("session:generate: opts.stop[2] must be a string, got number", s.generate, s, "x", { stop = { "a", 5 } })
  T.raises("session:generate: opts.stop[1] is empty", s.generate, s, "x", { stop = "" })
  T.raises("session:generate: opts.on_token must be a function, got string", s.generate, s, "x", { on_token = "f" })
  T.raises("session:generate: opts.json_schema must be a table or a JSON string, got number", s.generate, s, "x",
    { json_schema = 5 })
  T.raises("session:generate: opts.seed must be a non-negative integer", s.generate, s, "x", { seed = -1 })
  T.raises("session:generate: ", s.generate, s, "x", { top_p = 2 })   -- out of range: the sampler says why
  T.raises("session:generate: ", s.generate, s, "x", { grammar = "root ::= (" })
  T.raises("session:generate: ", s.generate, s, "x", { json_schema = { type = "string", pattern = "(a)\\1" } })
  T.raises("session:generate: ids[1] = 600 is not a token of this model", s.generate, s, { 600 })
  T.raises("session:generate: argument #1 must be a vkagent session, got table", s.generate, {}, "x")
  T.eq(s:n_past(), 0)   -- nothing was fed by the failed calls
  s:close()
end)

T.test("an error inside on_token stops generation and is raised after cleanup", function()
  local s = model:session()
  local calls = 0
  local msg = T.raises("boom from the callback", s.generate, s, "Once upon a time", {
    temperature = 0, max_tokens = 50, on_token = function()
      calls = calls + 1
      if calls == 2 then error("boom from the callback") end
    end })
  T.eq(calls, 2)
  T.contains(msg, "test_binding.lua")   -- the position of the raise is kept
  -- A non-string error object comes through as it is.
  local ok, err = pcall(s.generate, s, "x", { on_token = function() error({ code = 42 }) end })
  T.eq(ok, false)
  T.eq(type(err), "table")
  T.eq(err.code, 42)
  -- Yielding from the callback is an error (a C call boundary), not a crash.
  local co = coroutine.wrap(function()
    return pcall(s.generate, s, "x", { max_tokens = 5, on_token = function() coroutine.yield() end })
  end)
  local ok2, err2 = co()
  T.eq(ok2, false)
  T.contains(tostring(err2), "yield across a C-call boundary")
  -- The session still works.
  s:reset()
  local g = golden_run("Once upon a time", 64)
  T.eq(s:generate("Once upon a time", { temperature = 0, max_tokens = 60 }), g.text:sub(17))
  s:close()
end)

T.test("re-entering or closing a generating session from its callback is refused", function()
  local s = model:session()
  T.raises("session:generate: the session is generating", s.generate, s, "x", { max_tokens = 3,
    on_token = function() s:generate("y") end })
  T.raises("session:close: the session is generating", s.generate, s, "x", { max_tokens = 3,
    on_token = function() s:close() end })
  T.raises("session:reset: the session is generating", s.generate, s, "x", { max_tokens = 3,
    on_token = function() s:reset() end })
  T.raises("session:fork: the session is generating", s.generate, s, "x", { max_tokens = 3,
    on_token = function() s:fork() end })
  s:close()
end)

T.test("json_schema and grammar constrain the output", function()
  local s = model:session()
  local schema = { type = "object", properties = json.object({
    name = { type = "string", maxLength = 12 }, age = { type = "integer", minimum = 1, maximum = 99 } },
    { "name", "age" }), required = { "name", "age" }, additionalProperties = false }
  local text, info = s:generate("Once upon a time", { json_schema = schema, seed = 3, max_tokens = 100 })
  T.eq(info.stop_reason, "grammar")
  T.eq(info.complete, true)
  local v = json.decode(text)
  T.eq(type(v.name), "string")
  T.ok(utf8.len(v.name) <= 12)
  T.eq(math.type(v.age), "integer")
  T.ok(v.age >= 1 and v.age <= 99)
  T.eq(text:sub(1, 9), '{"name":"')   -- members in the declared order
  s:reset()
  local t2 = s:generate("The cat", { grammar = 'root ::= "yes" | "no"', max_tokens = 10 })
  T.ok(t2 == "yes" or t2 == "no", t2)
  s:reset()
  local t3 = s:generate("The cat", { json = true, max_tokens = 60, seed = 1 })
  T.ok(t3:match("^[%[{\"%-%dtfn]"), t3)
  s:close()
end)

T.test("info.complete: false when output under a grammar was cut off", function()
  local s = model:session()
  local schema = { type = "object", properties = { name = { type = "string" } }, required = { "name" } }
  local text, info = s:generate("Once upon a time", { json_schema = schema, seed = 3, max_tokens = 3 })
  T.eq(info.stop_reason, "max_tokens")
  T.eq(info.complete, false)
  T.eq(pcall(json.decode, text), false, "half a document: " .. text)
  s:reset()
  local grammar = 'root ::= ", there was a little girl"'
  local _, i2 = s:generate("Once upon a time", { grammar = grammar, temperature = 0, stop = "little" })
  T.eq(i2.stop_reason, "stop_string")
  T.eq(i2.complete, false)
  s:reset()
  local t3, i3 = s:generate("Once upon a time", { grammar = grammar, temperature = 0 })
  T.eq(t3, ", there was a little girl")
  T.eq(i3.complete, true)
  s:reset()
  local _, i4 = s:generate("Once upon a time", { temperature = 0, max_tokens = 2 })   -- no grammar
  T.eq(i4.stop_reason, "max_tokens")
  T.eq(i4.complete, true)
  s:close()
end)

T.test("JSON schema options: strict, lenient, flexible_ws, oneof_as_anyof", function()
  local s = model:session()
  -- strict: no member beyond the declared ones (here none)
  local empty = { type = "object", properties = json.object({}) }
  local text, info = s:generate("The cat", { json_schema = empty, strict = true, max_tokens = 20, seed = 1 })
  T.eq(text, "{}")
  T.eq(info.complete, true)
  s:reset()
  local schema = { type = "object", properties = { yes = { type = "boolean" } }, required = { "yes" } }
  local t2 = s:generate("The cat", { json_schema = schema, strict = true, lenient = true, flexible_ws = false,
    oneof_as_anyof = true, max_tokens = 40, seed = 2 })
  T.eq(type(json.decode(t2).yes), "boolean")
  for _, key in ipairs({ "strict", "lenient", "flexible_ws", "oneof_as_anyof" }) do
    T.raises("session:generate: opts." .. key .. " must be a boolean, got number", s.generate, s, "x",
      { json_schema = schema, [key] = 1 })
    T.raises("session:generate: opts." .. key .. " applies to json_schema or json, and neither is given", s.generate,
      s, "x", { grammar = 'root ::= "x"', [key] = true })
  end
  T.raises("session:stream: opts.strict must be a boolean, got string", s.stream, s, "x",
    { json_schema = schema, strict = "yes" })
  s:close()
end)

T.test("session:chat renders the conversation and reuses the matching prefix", function()
  local s = model:session()
  local msgs = { { role = "user", content = "Tell me a story." } }
  local reply, info = s:chat(msgs, { temperature = 0, max_tokens = 8 })
  T.eq(type(reply), "string")
  T.eq(info.n_reused, 0)
  -- the rendered text is fed as it is: BOS only where the template writes it
  local prompt_ids = model:tokenize(model:apply_chat_template(msgs), { special = true, bos = false })
  T.eq(info.n_prompt_tokens, #prompt_ids)
  msgs[#msgs + 1] = { role = "assistant", content = reply }
  msgs[#msgs + 1] = { role = "user", content = "More." }
  local _, info2 = s:chat(msgs, { temperature = 0, max_tokens = 8 })
  T.ok(info2.n_reused >= #prompt_ids, "the first turn's tokens are reused")
  T.raises("session:chat: unknown option 'tool'", s.chat, s, msgs, { tool = {} })
  T.raises("session:chat: argument #1 (messages) must be a list of messages or JSON text, got number", s.chat, s, 1)
  s:close()
end)

T.test("reset, rewind, fork, cancel, n_ctx", function()
  local s = model:session({ n_ctx = 128 })
  T.eq(s:n_ctx(), 128)
  local g = golden_run("Once upon a time", 64)
  s:generate("Once upon a time", { temperature = 0, max_tokens = 10 })
  T.eq(s:n_past(), 15)
  -- rewind to the prompt and continue: the same greedy text again
  s:rewind(5)
  T.same(s:tokens(), g.prompt_tokens)
  local again = s:generate({}, { temperature = 0, max_tokens = 10 })
  T.eq(again, model:detokenize({ table.unpack(g.tokens, 6, 15) }):gsub("^ ", ""), "continued after rewind")
  T.raises("session:rewind: n_past must be between 0 and 15 (the current position), got 16", s.rewind, s, 16)
  T.raises("session:rewind: n_past must be between 0", s.rewind, s, -1)
  T.raises("session:rewind: argument #1 (n_past) must be an integer, got string", s.rewind, s, "1")
  -- a fork continues exactly like its parent
  s:rewind(5)
  local f = s:fork()
  T.same(f:tokens(), s:tokens())
  local a = s:generate({}, { seed = 11, max_tokens = 20 })
  local b = f:generate({}, { seed = 11, max_tokens = 20 })
  T.eq(a, b)
  T.eq(f:model(), model)
  f:close()
  s:reset()
  T.eq(s:n_past(), 0)
  T.raises("session:generate: nothing to continue", s.generate, s, {})
  -- a cancel with no generation in progress does nothing: nothing carries over
  s:cancel()
  local t, info = s:generate("The cat", { max_tokens = 3 })
  T.eq(info.stop_reason, "max_tokens")
  T.eq(info.n_generated, 3)
  -- from on_token it stops the generation in progress, and only that one
  t, info = s:generate(" and", { max_tokens = 10, temperature = 0, on_token = function() s:cancel() end })
  T.eq(info.stop_reason, "cancelled")
  T.eq(info.n_generated, 1)
  t, info = s:generate(" the", { max_tokens = 2 })
  T.eq(info.stop_reason, "max_tokens")
  T.raises("model:session: opts.kv_type must be \"auto\", \"f32\" or \"f16\", not \"f8\"", model.session, model,
    { kv_type = "f8" })
  T.raises("model:session: unknown option 'ctx'", model.session, model, { ctx = 5 })
  s:close()
end)

T.test("logit_bias boosts and bans tokens", function()
  local s = model:session({ n_ctx = 64 })
  local function first_token(opts)
    local got
    opts.temperature, opts.max_tokens = 0, 1
    opts.on_token = function(_, id) got = got or id end
    s:reset()
    s:generate("Once upon a time", opts)
    return got
  end
  local greedy = first_token({})
  T.ok(greedy ~= first_token({ logit_bias = { [greedy] = -math.huge } }), "a banned token is never chosen")
  T.eq(first_token({ logit_bias = { [300] = 100 } }), 300, "a large bias wins")
  T.raises("opts.logit_bias keys must be token ids", s.generate, s, "x", { logit_bias = { [-1] = 1 } })
  T.raises("opts.logit_bias[3] must be a number", s.generate, s, "x", { logit_bias = { [3] = "a" } })
  T.raises("outside the vocabulary", s.generate, s, "x", { logit_bias = { [512] = 1 } })
  s:close()
end)

T.test("session:warning: a context above the training one", function()
  local s = model:session({ n_ctx = 1024 })
  T.contains(s:warning(), "larger than the model's training context (512 tokens)")
  s:close()
  s = model:session()
  T.eq(s:warning(), nil)
  T.eq(s:n_ctx(), 512, "the default: the smaller of the training context and 4096")
  s:close()
end)

T.test("vkagent.devices and model:warmup", function()
  local devs = vkagent.devices()
  T.eq(devs[1].device, "cpu")
  T.eq(devs[1].type, "cpu")
  local autos = 0
  for _, d in ipairs(devs) do
    T.eq(type(d.name), "string")
    if d.auto then autos = autos + 1 end
  end
  T.eq(autos, 1, "one device is the one auto takes")
  model:warmup()                          -- on the CPU: nothing to build, no error
end)

T.test("token lookup, attributes, and logits for a custom sampler", function()
  T.eq(model:token_lookup("\u{2581}Once"), 403)
  T.eq(model:token_lookup(" Once"), 403, "by the bytes it stands for")
  T.eq(model:token_lookup("no such token"), nil)
  T.same(model:token_attributes(403), { normal = true })
  T.same(model:token_attributes(2), { control = true, eog = true })
  T.same(model:token_attributes(1), { control = true, bos = true })
  T.raises("model:token_attributes: 512 is not a token of this model", model.token_attributes, model, 512)
  local s = model:session({ n_ctx = 64 })
  T.eq(s:logits(), nil, "nothing fed yet")
  local ids = model:tokenize("Once upon a time")
  s:feed(ids)
  local logits = s:logits()
  T.eq(#logits, 512)
  T.eq(logits[512], nil)
  T.eq(type(logits[0]), "number")
  local best = logits:argmax()
  T.same(logits:top(1), { best })
  local top = logits:top(5)
  for i = 2, 5 do T.ok(logits[top[i - 1]] >= logits[top[i]], "top is best first") end
  -- a greedy loop written in Lua gives the greedy text of generate
  local mine = {}
  for _ = 1, 6 do
    local id = s:logits():argmax()
    mine[#mine + 1] = id
    s:feed({ id })
  end
  local g = model:session({ n_ctx = 64 })
  local got = {}
  g:generate("Once upon a time", { temperature = 0, max_tokens = 6, on_token = function(_, id) got[#got + 1] = id end })
  T.same(mine, got)
  T.raises("session:feed: argument #1 (ids) must be a table", s.feed, s, "text")
  g:close()
  s:close()
end)

T.test("use after close is a Lua error, never a crash", function()
  local m2 = vkagent.load(model_path, { device = "cpu" })
  local s = m2:session()
  m2:close()
  T.raises("model:info: the model is closed", m2.info, m2)
  T.raises("model:session: the model is closed", m2.session, m2)
  T.contains(tostring(m2), "closed")
  -- the session keeps the weights alive after the model was closed
  local g = golden_run("Once upon a time", 64)
  T.eq(s:generate("Once upon a time", { temperature = 0, max_tokens = 60 }), g.text:sub(17))
  s:close()
  s:close()   -- closing twice is fine
  T.raises("session:generate: the session is closed", s.generate, s, "x")
  T.raises("session:n_past: the session is closed", s.n_past, s)
  T.raises("session:fork: the session is closed", s.fork, s)
  T.contains(tostring(s), "closed")
  m2:close()
end)

T.test("to-be-closed variables and the collector release models and sessions", function()
  local s_ref
  do
    local m <close> = vkagent.load(model_path, { device = "cpu" })
    local s <close> = m:session()
    s_ref = s
    T.eq(#s:generate("The cat", { max_tokens = 3, temperature = 0 }) > 0, true)
  end
  T.raises("the session is closed", s_ref.n_past, s_ref)
  -- a session whose model is no longer referenced still works, then both are collected
  local s2 = vkagent.load(model_path, { device = "cpu" }):session()
  collectgarbage()
  collectgarbage()
  T.ok(#s2:generate("The cat", { max_tokens = 3 }) > 0)
  s2 = nil
  collectgarbage()
  collectgarbage()
end)

T.done()
