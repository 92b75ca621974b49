-- test_translate.lua — examples/agents/translate.lua: sentence and token
-- splitting, a document many times the context cut into chunks that each
-- fit (recounted with the Qwen3 tokenizer), every chunk sent once and in
-- order, the reassembly keeping order and paragraph breaks (checked with
-- stand-in translators: identity gives the document back byte for byte,
-- upper-casing gives the document upper-cased); then a real run on a tiny
-- random-weight qwen3 model (real Qwen3 vocabulary and chat template) whose
-- prompts and replies fit the context, and the script end to end.
package.path = (arg[0]:match("(.*/)") or "./") .. "?.lua;" .. package.path
local T = require "testlib"

local translate = dofile(T.source_dir .. "/examples/agents/translate.lua")
local model, model_path = T.tiny_qwen3("translate")

local function count(text) return #model:tokenize(text, { bos = false }) end

local read = T.read_file

-- A long document of many shapes: headings, English and Chinese paragraphs,
-- a list, odd blank lines (with spaces, CRLF, three newlines), a sentence
-- far longer than a chunk, and a Chinese run with no punctuation at all.
local function make_document(n_sections)
  local words = { "lighthouse", "keeper", "climbed", "the", "stairs", "every", "evening", "and", "lit", "lamp",
                  "ships", "passed", "safely", "through", "storm", "nobody", "thought", "about", "him", "sea" }
  local zh = { "他每天晚上都点亮灯塔。", "船只安全地经过！", "没有人想起他？", "冬天来了，油用完了。",
               "他烧掉了椅子，然后是桌子。" }
  local seps = { "\n\n", "\n\n\n", "\n  \n", "\r\n\r\n", "\n\n" }
  local state = 7
  local function rnd(n)   -- a small LCG: the same document on every run
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n + 1
  end
  local function sentence(n)
    local t = {}
    for i = 1, n do t[i] = words[rnd(#words)] end
    t[1] = t[1]:sub(1, 1):upper() .. t[1]:sub(2)
    return table.concat(t, " ") .. ({ ".", "!", "?", "." })[rnd(4)]
  end
  local parts = { "\n" }
  for s = 1, n_sections do
    parts[#parts + 1] = "# Part " .. s .. seps[rnd(#seps)]
    local p = {}
    for i = 1, rnd(6) do p[i] = sentence(4 + rnd(14)) end
    parts[#parts + 1] = table.concat(p, " ") .. seps[rnd(#seps)]
    local c = {}
    for i = 1, rnd(8) do c[i] = zh[rnd(#zh)] end
    parts[#parts + 1] = table.concat(c) .. seps[rnd(#seps)]
    parts[#parts + 1] = "- one item\n- another item, version 3.5\n- e.g. the last" .. seps[rnd(#seps)]
    if s % 4 == 0 then
      local long = {}
      for i = 1, 300 do long[i] = words[rnd(#words)] end
      parts[#parts + 1] = table.concat(long, " ") .. seps[rnd(#seps)]
      parts[#parts + 1] = string.rep("灯塔守护者每晚点亮灯光", 40) .. seps[rnd(#seps)]
    end
  end
  parts[#parts + 1] = "The end."
  parts[#parts + 1] = "\n\n"
  return table.concat(parts)
end

T.test("sentences: ends after . ! ? before white space, after 。！？ always, closing quotes kept", function()
  local got = translate.sentences('One. "Two!"  Three? Version 3.5 e.g.x 四。五！”六？ seven')
  local want = { { "One.", " " }, { '"Two!"', "  " }, { "Three?", " " }, { "Version 3.5 e.g.x 四。", "" },
                 { "五！”", "" }, { "六？", " " }, { "seven", "" } }
  T.eq(#got, #want)
  for i, w in ipairs(want) do
    T.eq(got[i].text, w[1], "sentence " .. i)
    T.eq(got[i].sep, w[2], "sentence " .. i)
  end
end)

T.test("split_tokens: a sentence with no end cut at token boundaries, each piece within the budget", function()
  for _, text in ipairs({ string.rep("lighthouse keeper climbed ", 60) .. "stairs",
                          string.rep("灯塔守护者每晚点亮灯光", 30) }) do
    for _, budget in ipairs({ 7, 20, 33 }) do
      local pieces = translate.split_tokens(model, text, budget, count)
      T.ok(#pieces >= 2, "cut into pieces")
      local whole = {}
      for i, p in ipairs(pieces) do
        T.ok(count(p.text) <= budget, ("piece %d: %d tokens <= %d"):format(i, count(p.text), budget))
        T.ok(utf8.len(p.text), "whole UTF-8 characters")
        whole[#whole + 1] = p.text .. p.sep
      end
      T.eq(table.concat(whole), text, "the pieces and their white space are the text")
      if text:find(" ") then
        for i = 1, #pieces - 1 do T.eq(pieces[i].sep, " ", "an English piece ends before a space") end
      end
    end
  end
end)

T.test("a document 5 times the context: chunks that fit, all sent in order, paragraph breaks kept", function()
  local doc_text = make_document(40)
  local n_tokens = count(doc_text)
  T.ok(n_tokens >= 5 * 1024, ("the document is %d tokens, 5 times the tiny model's 1024"):format(n_tokens))
  for _, budget in ipairs({ 48, 200 }) do
    local doc = translate.split(model, doc_text, budget)
    T.ok(#doc.chunks >= n_tokens // budget, ("%d chunks of <= %d tokens"):format(#doc.chunks, budget))
    local within_paragraph = 0
    for i, c in ipairs(doc.chunks) do
      local n = count(c.text)
      T.ok(n <= budget, ("budget %d, chunk %d: %d tokens"):format(budget, i, n))
      T.eq(c.tokens, n, "the recorded count")
      T.eq(c.text:match("^%s"), nil, "no white space at a chunk's start")
      T.eq(c.text:match("%s$"), nil, "no white space at a chunk's end")
      if i < #doc.chunks and doc.chunks[i + 1].paragraphs[1] == c.paragraphs[2] then
        within_paragraph = within_paragraph + 1
      end
    end
    io.stderr:write(("# budget %d: %d chunks of %d tokens, %d cut inside a paragraph\n"):format(budget, #doc.chunks, n_tokens, within_paragraph))
    T.ok(within_paragraph > 0, "some paragraphs were too long for one chunk and were cut")
    T.eq(translate.join(doc), doc_text, "the chunks are the document, byte for byte")

    -- Stand-in translators: each call recorded; identity and upper-casing.
    local calls = {}
    local same = translate.translate_document(model, doc_text, { chunk_tokens = budget, translate = function(text, i, n)
      calls[#calls + 1] = { text = text, i = i, n = n }
      return text
    end })
    T.eq(same, doc_text, "identity: the document comes back byte for byte")
    T.eq(#calls, #doc.chunks, "every chunk sent once")
    for i, call in ipairs(calls) do
      T.eq(call.i, i, "in order")
      T.eq(call.n, #doc.chunks)
      T.eq(call.text, doc.chunks[i].text)
    end
    local upper = translate.translate_document(model, doc_text, { chunk_tokens = budget,
      translate = function(text) return "\n " .. text:upper() .. " \n" end })
    T.eq(upper, doc_text:upper(), "upper-cased (and padded, trimmed again): the document upper-cased")
  end
end)

T.test("a real run on the tiny qwen3 model: every prompt and reply fits, outputs joined in order", function()
  local n_ctx = 256
  local doc_text = make_document(8)
  T.ok(count(doc_text) >= 3 * n_ctx, ("the document (%d tokens) is 3 times the context"):format(count(doc_text)))
  -- ratio 0.25: short replies keep the test quick (the budget leaves room for them)
  local o = { to = "French", n_ctx = n_ctx, ratio = 0.25, temperature = 0, seed = 1 }
  o.chunk_tokens = translate.chunk_budget(model, o, n_ctx)
  -- the budget, worked out by hand from its parts
  local fixed = #model:tokenize(model:apply_chat_template({ { role = "system", content = translate.system_prompt("French") },
    { role = "user", content = "" } }, { enable_thinking = false }), { special = true, bos = false })
  T.eq(o.chunk_tokens, math.tointeger((n_ctx - fixed - 16) // 1.25))
  local model_call = translate.model_translator(model, o)
  local sent = {}
  o.translate = function(text, i, n)
    sent[#sent + 1] = text
    local out, info = model_call(text, i, n)
    T.ok(info.n_prompt_total + info.n_generated <= n_ctx, ("chunk %d: %d + %d tokens fit in %d"):format(i,
      info.n_prompt_total, info.n_generated, n_ctx))
    T.eq(info.n_reused + info.n_prompt_tokens, info.n_prompt_total, "the chat read the prompt that was counted")
    T.ok(info.stop_reason ~= "context_full", "chunk " .. i .. ": " .. info.stop_reason)
    T.ok(info.n_generated <= math.ceil(o.ratio * count(text)) + 16, "chunk " .. i .. ": the reply is bounded")
    if i > 1 then T.ok(info.n_reused > 0, "the system prompt's tokens are reused") end
    return out, info
  end
  local result, doc = translate.translate_document(model, doc_text, o)
  T.ok(#doc.chunks >= 3, #doc.chunks .. " chunks")
  T.eq(#sent, #doc.chunks, "every chunk sent once")
  local pos = 1
  for i, c in ipairs(doc.chunks) do
    T.eq(sent[i], c.text, "in order")
    T.ok(c.tokens <= o.chunk_tokens)
    local out = c.output:gsub("^%s+", ""):gsub("%s+$", "")
    local s, e = result:find(out, pos, true)
    T.ok(s, "chunk " .. i .. "'s translation is in the result, after the one before")
    pos = e + 1
  end
end)

T.test("the script: translates a file, writes the output, reports each chunk's tokens", function()
  local dir = T.tmpdir("translate-cli")
  local input = dir .. "/story.md"
  local f = assert(io.open(input, "wb"))
  f:write(make_document(3))
  f:close()
  local cmd = ("cd '%s' && '%s/cli/vkagent' agent examples/agents/translate.lua '%s' --to German --model '%s' "
    .. "--device cpu --ctx 256 --ratio 0.25 --quiet 2> '%s/err.txt'; echo $?"):format(T.source_dir, T.build_dir,
    input, model_path, dir)
  local p = io.popen(cmd)
  local rc = p:read("a")
  p:close()
  local err = read(dir .. "/err.txt") or ""
  T.eq(rc, "0\n", "exit status; stderr:\n" .. err)
  local n = tonumber(err:match("\n(%d+) chunks, "))
  T.ok(n and n >= 2, "several chunks:\n" .. err)
  for i = 1, n do T.ok(err:find(("chunk %d/%d %%(paragraphs? [%%d%%-]+%%): %%d+ tokens in"):format(i, n)), "chunk " .. i) end
  T.ok(read(dir .. "/story.german.md"), "the output next to the input, named after the language")
  T.rmtree(dir)
end)

T.done()
