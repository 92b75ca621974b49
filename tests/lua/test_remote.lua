-- test_remote.lua — vkagent.connect against a `vkagent serve` started here on
-- a free loopback port (stories260K): the model surface (info, tokenize,
-- detokenize, templates) as the local model's, generate and stream with the
-- same text as a local session for the same seed, JSON-schema answers, the
-- errors (connection refused, a wrong key, a bad parameter, a closed
-- stream), and the storyteller agent run through the server, every step a
-- valid tool call, with the same story as run locally.
-- usage: vkagent agent test_remote.lua VKAGENT_EXE
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"
local vkagent = require "vkagent"
local schema = require "vkagent.schema"
local json = vkagent.json

local exe = arg[1] or (T.build_dir .. "/cli/vkagent")
local local_model, model_path = T.stories()
local KEY = "test-key-remote"

local read_file = T.read_file

local function sleep(seconds) os.execute(("sleep %.2f"):format(seconds)) end

-- Servers: `timeout` ends each even if this script dies first.
local tmp = T.tmpdir("remote")
local pids = {}
local function stop_servers()
  for _, pid in ipairs(pids) do os.execute("kill " .. pid .. " 2>/dev/null") end
  pids = {}
end

-- Starts `cmd` in the background and returns the address it prints
-- ("listening on http://HOST:PORT" on stderr).
local function spawn(cmd, tag)
  local log_path, pid_path = tmp .. "/" .. tag .. ".log", tmp .. "/" .. tag .. ".pid"
  os.execute(("timeout 300 %s 2>'%s' & echo $! > '%s'"):format(cmd, log_path, pid_path))
  pids[#pids + 1] = math.tointeger(tonumber(read_file(pid_path)))
  for _ = 1, 200 do
    local port = (read_file(log_path) or ""):match("listening on http://[^\n]-:(%d+)")
    if port then return "http://127.0.0.1:" .. port end
    sleep(0.05)
  end
  stop_servers()
  error(tag .. " did not start: " .. tostring(read_file(log_path)))
end

local url = spawn(("'%s' serve -m '%s' --port 0 --api-key %s --parallel 4"):format(exe, model_path, KEY), "serve")
for _ = 1, 400 do
  local ok, status = pcall(vkagent.http.request, { url = url .. "/health" })
  if ok and status == 200 then break end
  sleep(0.05)
end

local remote = vkagent.connect{ url = url, api_key = KEY }

T.test("connect: the model's facts from /v1/models and /props", function()
  local info, here = remote:info(), local_model:info()
  T.eq(info.name, "stories260K")
  T.eq(info.n_ctx, here.n_ctx)
  T.eq(info.n_vocab, here.n_vocab)
  T.eq(info.add_bos, here.add_bos)
  T.eq(info.chat_template_recognised, here.chat_template_recognised)
  T.eq(info.exact_tokens, true)
  T.eq(info.device, "remote: " .. url)
  T.eq(vkagent.connect{ url = url .. "/v1/", api_key = KEY }:info().name, "stories260K", "a /v1 address")
end)

T.test("tokenize, detokenize and the chat template are the server's, as local", function()
  for _, text in ipairs({ "Once upon a time", "", "héllo <s> wörld\n" }) do
    T.same(remote:tokenize(text), local_model:tokenize(text))
    T.same(remote:tokenize(text, { bos = false }), local_model:tokenize(text, { bos = false }))
    T.same(remote:tokenize(text, { special = true }), local_model:tokenize(text, { special = true }))
    T.eq(remote:count_tokens(text), #local_model:tokenize(text))
  end
  local ids = local_model:tokenize("The cat sat", { bos = false })
  T.eq(remote:detokenize(ids), local_model:detokenize(ids))
  local msgs = { { role = "system", content = "Be brief." }, { role = "user", content = "Hi!" } }
  T.eq(remote:apply_chat_template(msgs), local_model:apply_chat_template(msgs))
  T.eq(remote:apply_chat_template(msgs, { enable_thinking = false }),
    local_model:apply_chat_template(msgs, { enable_thinking = false }))
end)

-- OpenAI's sampling: no top-k or min-p (the local defaults have them).
local openai = { top_k = 0, top_p = 1, min_p = 0 }
local function with(base, extra)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

T.test("generate: the same text as a local session for the same seed", function()
  for _, o in ipairs({ { temperature = 0, max_tokens = 30 }, { temperature = 0.9, seed = 7, max_tokens = 40 } }) do
    local text, info = remote:session():generate("Once upon a time", with(openai, o))
    local want, want_info = local_model:session():generate("Once upon a time", with(openai, o))
    T.eq(text, want)
    T.eq(info.n_generated, want_info.n_generated)
    T.eq(info.n_prompt_tokens, want_info.n_prompt_tokens)
    T.eq(info.stop_reason, want_info.stop_reason)
  end
end)

T.test("stream: pieces as they come, on_token, and a session's context", function()
  local s = remote:session()
  local pieces = {}
  for piece in s:stream("Once upon a time", with(openai, { temperature = 0, max_tokens = 20 })) do
    T.eq(type(piece), "string")
    pieces[#pieces + 1] = piece
  end
  -- (a server as fast as stories260K on the CPU may send the text in one event)
  T.ok(#pieces >= 1, "pieces")
  local want = local_model:session():generate("Once upon a time", with(openai, { temperature = 0, max_tokens = 20 }))
  T.eq(table.concat(pieces), want)
  -- the session holds prompt and reply: its tokens, and a generate that goes on from them
  T.same(s:tokens(), local_model:tokenize("Once upon a time" .. want))
  local seen = {}
  local more, info = s:generate(" The", with(openai, { temperature = 0, max_tokens = 5, on_token = function(piece)
    seen[#seen + 1] = piece
    return false
  end }))
  T.eq(#seen, 1, "on_token returning false stops it")
  T.eq(more, seen[1])
  T.eq(info.stop_reason, "callback")
  s:rewind(3)
  T.same(s:tokens(), local_model:tokenize("Once upon"))
  s:reset()
  T.eq(#s:tokens(), 0)
end)

T.test("agent:poll does not wait for the server, and gives the steps agent:run gives", function()
  local Agent = require "vkagent.agent"
  local function make()
    local agent = Agent.new{ model = remote, goals = { "Compute 6 * 7." }, max_steps = 3, seed = 11,
                             top_k = 0, top_p = 1, min_p = 0 }
    return agent:tool(require("vkagent.tools").calculator())
  end
  local want = make():run()
  local agent, empty_polls, status = make(), 0, nil
  repeat
    local step
    status, step = agent:poll{ tokens = 4 }
    if status == "running" and not step then empty_polls = empty_polls + 1 end
  until status ~= "running"
  T.ok(empty_polls > 0, "polls that returned before the reply was in")
  T.eq(status, want.status)
  T.eq(#agent:result().steps, #want.steps)
  for i, step in ipairs(agent:result().steps) do T.eq(step.reply, want.steps[i].reply, "step " .. i) end
end)

T.test("json_schema: the answer validates", function()
  local sch = { type = "object", properties = json.object({ name = { type = "string", maxLength = 10 },
    age = { type = "integer", minimum = 1, maximum = 9 } }, { "name", "age" }), required = { "name", "age" },
    additionalProperties = false }
  for seed = 1, 3 do
    local text, info = remote:session():generate("The cat", { json_schema = sch, strict = true, seed = seed,
                                                             max_tokens = 60 })
    T.ok(info.complete, "complete")
    local ok, why = schema.validate(json.decode(text), sch, { strict = true })
    T.ok(ok, tostring(why) .. " in " .. text)
  end
end)

T.test("chat: the server renders the conversation", function()
  local msgs = { { role = "user", content = "A story, please." } }
  local text, info = remote:session():chat(msgs, with(openai, { temperature = 0, max_tokens = 20 }))
  local want = local_model:session():chat(msgs, with(openai, { temperature = 0, max_tokens = 20 }))
  T.eq(text, want)
  T.eq(info.n_generated > 0, true)
end)

T.test("errors: refused connection, wrong key, bad parameter, unknown option", function()
  T.raises("cannot reach http://127.0.0.1:1/v1/models", vkagent.connect, { url = "http://127.0.0.1:1" })
  T.raises("answered 401", vkagent.connect, { url = url, api_key = "wrong" })
  T.raises("url must be an http", vkagent.connect, { url = "localhost:80" })
  T.raises("unknown option 'urll'", vkagent.connect, { urll = url })
  local s = remote:session()
  T.raises("(param temperature)", s.generate, s, "x", { temperature = 5 })
  T.raises("option 'grammar' is not available on a remote model", s.generate, s, "x", { grammar = 'root ::= "a"' })
  T.raises("(param response_format.json_schema.schema)", s.generate, s, "x",
    { json_schema = { type = "object", properties = { a = { type = "string", pattern = "(" } } } })
  -- the session is still usable after an error
  T.ok(#s:generate("Once", { max_tokens = 3 }) > 0)
  -- vkagent.http itself returns the status; connect's calls turn it into an error
  T.eq((vkagent.http.request{ url = url .. "/nowhere" }), 404)
end)

-- Runs the storyteller on `where` (a --url or a local model); returns its output.
local function storyteller(where, ws)
  local cmd = ("'%s' agent '%s/examples/agents/storyteller.lua' %s --workspace '%s' --steps 6 --seed 5 "
    .. "--top-k 0 --top-p 1 --min-p 0 2>&1"):format(exe, T.source_dir, where, ws)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok = p:close()
  if not ok then error("storyteller failed: " .. cmd .. "\n" .. out) end
  return out
end

T.test("storyteller through the server: valid tool calls, the same story as locally", function()
  local out = storyteller(("--url %s --api-key %s"):format(url, KEY), tmp .. "/ws-remote")
  local here = storyteller(("--model '%s' --device cpu"):format(model_path), tmp .. "/ws-local")
  local calls = 0
  for name in out:gmatch("\n  call:      (%S+)") do
    T.ok(name == "append_file" or name == "read_file" or name == "finish", "a registered tool: " .. name)
    calls = calls + 1
  end
  T.ok(calls >= 1, "tool calls:\n" .. out)
  T.ok(not out:find("no call:", 1, true), "every step a valid call:\n" .. out)
  -- everything after the header line (model and device differ)
  local function body(text) return (text:gsub("^model: [^\n]*\n", ""):gsub("/ws%-%a+", "/ws")) end
  T.eq(body(out), body(here))
end)

T.test("a plain OpenAI server (no /props, /tokenize): estimates, chat messages, a timeout", function()
  local proxy = spawn(("python3 '%s/tests/lua/openai_proxy.py' %s"):format(T.source_dir, url), "proxy")
  local plain = vkagent.connect{ url = proxy, api_key = KEY }
  local info = plain:info()
  T.eq(info.exact_tokens, false)
  T.eq(info.n_ctx, 4096, "no /props: the default")
  T.eq(info.chat_template_recognised, true, "prompts go as chat messages")
  T.raises("has no /tokenize", plain.tokenize, plain, "x")
  T.eq(plain:count_tokens("abcdefg"), 3, "one token per 3 bytes, rounded up")
  T.ok(plain:count_tokens("Once upon a time there was a cat") >= #local_model:tokenize("Once upon a time there was a cat"),
    "an over-estimate")
  -- generation goes through as it is
  local o = with(openai, { temperature = 0, max_tokens = 20 })
  local want = remote:session():generate("Once upon a time", o)
  T.eq(plain:session():generate("Once upon a time", o), want)
  -- a server that ignores stream = true: its whole answer is one piece
  local whole = vkagent.connect{ url = proxy .. "/nostream", api_key = KEY }
  local text, winfo = whole:session():generate("Once upon a time", o)
  T.eq(text, want)
  T.eq(winfo.n_generated, 20)
  T.eq(winfo.stop_reason, "max_tokens")
  -- an agent: the server renders its messages and constrains every reply
  plain = vkagent.connect{ url = proxy, api_key = KEY, n_ctx = 512 }
  local Agent = require "vkagent.agent"
  local agent = Agent.new{ model = plain, goals = { "Compute 6 * 7." }, max_steps = 3, seed = 3 }
  agent:tool(require("vkagent.tools").calculator())
  local result = agent:run()
  T.ok(#result.steps >= 1, "steps: " .. tostring(result.reason))
  for _, step in ipairs(result.steps) do
    if step.complete then
      T.ok(step.command ~= nil, ("step %d: a valid call, got %s (%s)"):format(step.n, step.reply, tostring(step.error)))
    end
  end
  T.raises("timed out", vkagent.http.request, { url = proxy .. "/slow", timeout = 0.3 })
end)

local qwen_vocab, no_qwen = T.fixture("fixtures/vocab/qwen3.gguf")
if not qwen_vocab then print("# SKIP the tiny Qwen3 case: " .. no_qwen) end
local function qwen_case()
  local qwen, qwen_path = T.tiny_qwen3("remote")
  local qurl = spawn(("'%s' serve -m '%s' --port 0 --parallel 2"):format(exe, qwen_path), "serve-qwen3")
  local q
  for _ = 1, 400 do
    local ok, m = pcall(vkagent.connect, { url = qurl })
    if ok then q = m break end
    sleep(0.05)
  end
  T.ok(q, "connected")
  T.eq(q:info().chat_template, "qwen3")
  T.eq(q:info().chat_template_recognised, true)
  -- enable_thinking = false reaches the template (Qwen3's empty think block)
  local msgs = { { role = "user", content = "Hi" } }
  local _, on = q:session():chat(msgs, { max_tokens = 1, temperature = 0 })
  local _, off = q:session():chat(msgs, { max_tokens = 1, temperature = 0, enable_thinking = false })
  local _, here = qwen:session():chat(msgs, { max_tokens = 1, temperature = 0, enable_thinking = false })
  T.eq(off.n_prompt_tokens, here.n_prompt_tokens)
  T.ok(off.n_prompt_tokens > on.n_prompt_tokens, "the think block")
  local Agent = require "vkagent.agent"
  local function run(model)
    local agent = Agent.new{ model = model, goals = { "Compute 6 * 7." }, max_steps = 2, seed = 4, n_ctx = 1024,
                             top_k = 0, top_p = 1, min_p = 0 }
    return agent:tool(require("vkagent.tools").calculator()):run()
  end
  local want, got = run(qwen), run(q)
  T.eq(#got.steps, #want.steps)
  for i, step in ipairs(got.steps) do
    T.eq(step.prompt_tokens, want.steps[i].prompt_tokens, "step " .. i .. " prompt tokens")
    T.eq(step.reply, want.steps[i].reply, "step " .. i)
  end
end
if qwen_vocab then
  T.test("a chat-template model (tiny Qwen3): an agent's steps through the server are the local ones", qwen_case)
end

-- last, whatever failed before: the servers go
T.test("the server stops", function()
  stop_servers()
  T.raises("cannot reach", function()
    for _ = 1, 100 do
      vkagent.http.request{ url = url .. "/health" }
      sleep(0.05)
    end
  end)
  if os.getenv("VKAGENT_KEEP_TMP") then print("# kept " .. tmp) else T.rmtree(tmp) end
end)

T.done()
