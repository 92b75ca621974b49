-- translate.lua — translates a document of any length with a model whose
-- context is much smaller: the text is split into chunks that fit (counted
-- with the model's own tokenizer), each chunk is translated in its own chat
-- turn, and the translations are put back in order with the document's
-- paragraph breaks. Per-chunk token counts are reported on stderr.
--
-- Run it with a real instruct model (vkagent never downloads anything):
--
--   curl -L -o models/qwen2.5-1.5b-instruct-q4_k_m.gguf \
--     https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf
--   build/cli/vkagent agent examples/agents/translate.lua README.md --to German \
--     --model models/qwen2.5-1.5b-instruct-q4_k_m.gguf --output /tmp/README.de.md
--
-- Splitting: the document's leading and trailing white space is kept aside;
-- the rest is cut into paragraphs at blank lines. A paragraph that does not
-- fit in a chunk is cut into sentences (after . ! ? and the Chinese/Japanese
-- 。！？, keeping the white space that follows); a sentence that still does
-- not fit is cut at token boundaries (the longest run of its tokens that
-- fits, ending before a space when one is within 32 tokens). The pieces are
-- then packed, in order, into chunks of at most --chunk-tokens tokens,
-- counted by tokenizing the chunk's text itself. Each chunk remembers the exact white
-- space that followed it, and the output is
--     lead .. T(chunk 1) .. sep 1 .. T(chunk 2) .. sep 2 .. ... .. T(chunk n) .. trail
-- where T is the translation, trimmed; so with T the identity the output is
-- the input, byte for byte.
--
-- Budget: a chunk of s tokens takes the prompt's fixed part (system message
-- and template, p tokens) plus s, and its translation up to ratio * s + 16,
-- so the default chunk size is (n_ctx - p - 16) / (1 + ratio).
--
-- As a module (the tests): `local translate = dofile("examples/agents/translate.lua")`.
local vkagent = require "vkagent"
local cli = require "vkagent.cli"

local M = {}

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- ---------------------------------------------------------------- splitting

-- Paragraphs of `body` (no leading or trailing white space):
-- {{text = ..., sep = <the white space after it>}, ...}.
local function paragraphs(body)
  local out, pos = {}, 1
  while true do
    local s, e = body:find("[ \t\r]*\n[ \t\r]*\n%s*", pos)
    if not s then
      out[#out + 1] = { text = body:sub(pos), sep = "" }
      return out
    end
    out[#out + 1] = { text = body:sub(pos, s - 1), sep = body:sub(s, e) }
    pos = e + 1
  end
end

local end_marks = { ["."] = "latin", ["!"] = "latin", ["?"] = "latin", ["。"] = "cjk", ["！"] = "cjk", ["？"] = "cjk" }
local closers = { ['"'] = true, ["'"] = true, [")"] = true, ["]"] = true, ["”"] = true, ["’"] = true, ["」"] = true,
                  ["』"] = true, ["）"] = true }

--- Sentences of a paragraph, each with the white space after it:
-- {{text, sep}, ...}. A sentence ends after its end marks and closing
-- quotes or brackets; after . ! ? only when white space follows (so "3.5"
-- and "e.g.x" stay whole), after 。！？ always.
function M.sentences(text)
  local chars = {}
  for p, c in utf8.codes(text) do chars[#chars + 1] = { p, utf8.char(c) } end
  local out, start, i, n = {}, 1, 1, #chars
  while i <= n do
    local kind = end_marks[chars[i][2]]
    if kind then
      local j = i
      while j + 1 <= n and end_marks[chars[j + 1][2]] do
        j = j + 1
        if end_marks[chars[j][2]] == "cjk" then kind = "cjk" end
      end
      while j + 1 <= n and closers[chars[j + 1][2]] do j = j + 1 end
      local k = j
      while k + 1 <= n and chars[k + 1][2]:find("^%s$") do k = k + 1 end
      if k + 1 <= n and (k > j or kind == "cjk") then
        local stop, next = chars[j + 1][1], chars[k + 1][1]
        out[#out + 1] = { text = text:sub(start, stop - 1), sep = text:sub(stop, next - 1) }
        start = next
      end
      i = k + 1
    else
      i = i + 1
    end
  end
  if start <= #text then out[#out + 1] = { text = text:sub(start), sep = "" } end
  return out
end

-- A sentence longer than `budget` tokens cut at token boundaries:
-- {{text, sep}, ...}, each piece within the budget.
function M.split_tokens(model, text, budget, count)
  local out = {}
  while count(text) > budget do
    local ids = model:tokenize(text, { bos = false })
    local cut
    -- The longest prefix of whole tokens that is whole UTF-8, is the text's
    -- own prefix and fits; one that ends before white space is preferred
    -- when it is at most 32 tokens shorter.
    local fallback
    local top = math.min(budget, #ids - 1)
    for k = top, 1, -1 do
      local prefix = model:detokenize(table.move(ids, 1, k, 1, {}))
      if #prefix > 0 and utf8.len(prefix) and text:sub(1, #prefix) == prefix and count(prefix) <= budget then
        fallback = fallback or #prefix
        if text:find("^%s", #prefix + 1) then
          cut = #prefix
          break
        end
      end
      if fallback and k <= top - 32 then break end
    end
    cut = cut or fallback
    if not cut then
      -- No token boundary gives a clean prefix (a tokenizer that rewrites
      -- text on decoding): cut at the longest fitting character boundary.
      local lo, hi = 0, #text
      while lo < hi do
        local mid = (lo + hi + 1) // 2
        while mid > lo and mid < #text and (text:byte(mid + 1) & 0xC0) == 0x80 do mid = mid - 1 end
        if mid == lo then break end
        if count(text:sub(1, mid)) <= budget then lo = mid else hi = mid - 1 end
      end
      cut = math.max(lo, utf8.offset(text, 2) - 1)   -- at least one character, so the loop ends
    end
    local rest_start = text:find("%S", cut + 1) or (#text + 1)
    out[#out + 1] = { text = text:sub(1, cut), sep = text:sub(cut + 1, rest_start - 1) }
    text = text:sub(rest_start)
  end
  if #text > 0 then out[#out + 1] = { text = text, sep = "" } end
  return out
end

--- Splits `text` into chunks of at most `budget` tokens (counted by
-- count(text), default the model's tokenizer without BOS). Returns
-- {lead = <white space before>, trail = <white space after>, chunks =
-- {{text, sep, tokens, paragraphs = {first, last}}, ...}}; the chunks'
-- texts and seps, in order between lead and trail, are the whole document.
function M.split(model, text, budget, count)
  count = count or function(t) return #model:tokenize(t, { bos = false }) end
  if not utf8.len(text) then error("translate: the document is not valid UTF-8", 0) end
  local lead, body, trail = text:match("^(%s*)(.-)(%s*)$")
  local doc = { lead = lead, trail = trail, chunks = {} }
  if body == "" then return doc end
  -- pieces: {text, sep, para}, each within the budget
  local pieces = {}
  for p_index, p in ipairs(paragraphs(body)) do
    local parts = { p }
    if count(p.text) > budget then
      parts = {}
      local sents = M.sentences(p.text)
      sents[#sents].sep = sents[#sents].sep .. p.sep
      for _, s in ipairs(sents) do
        if count(s.text) > budget then
          local cut = M.split_tokens(model, s.text, budget, count)
          cut[#cut].sep = cut[#cut].sep .. s.sep
          for _, c in ipairs(cut) do parts[#parts + 1] = c end
        else
          parts[#parts + 1] = s
        end
      end
    end
    for _, part in ipairs(parts) do pieces[#pieces + 1] = { text = part.text, sep = part.sep, para = p_index } end
  end
  -- pack the pieces, in order, into chunks
  local cur
  for _, piece in ipairs(pieces) do
    local joined = cur and (cur.text .. cur.sep .. piece.text)
    local n = joined and count(joined)
    if cur and n <= budget then
      cur.text, cur.sep, cur.tokens, cur.paragraphs[2] = joined, piece.sep, n, piece.para
    else
      cur = { text = piece.text, sep = piece.sep, tokens = count(piece.text), paragraphs = { piece.para, piece.para } }
      doc.chunks[#doc.chunks + 1] = cur
    end
  end
  return doc
end

--- The document again from its chunks, with translate(chunk.text, i, n)
-- in place of each chunk's text (trimmed); with nil, the original.
function M.join(doc, outputs)
  local parts = { doc.lead }
  for i, c in ipairs(doc.chunks) do
    parts[#parts + 1] = outputs and trim(outputs[i]) or c.text
    parts[#parts + 1] = c.sep
  end
  parts[#parts + 1] = doc.trail
  return table.concat(parts)
end

-- ---------------------------------------------------------- translating

function M.system_prompt(to, from)
  return ("You are a professional translator. Translate the text the user sends%s into %s. Reply with the "
    .. "translation only: no notes, no explanations, no quotes around it. Keep the paragraph breaks, line breaks, "
    .. "Markdown, numbers, names and code as they are."):format(from and (" from " .. from) or "", to)
end

local function messages(o, text)
  return { { role = "system", content = M.system_prompt(o.to, o.from) }, { role = "user", content = text } }
end

--- The tokens of the chat prompt around a chunk: its fixed part.
function M.prompt_overhead(model, o)
  local prompt = model:apply_chat_template(messages(o, ""), { enable_thinking = false })
  return #model:tokenize(prompt, { special = true, bos = false })
end

--- A translator through the model: a function(text, i) -> translation,
-- info, run in one session (the system prompt's tokens are reused between
-- chunks). o: to, from, n_ctx, ratio, temperature, seed, on_token.
function M.model_translator(model, o)
  local session = model:session{ n_ctx = o.n_ctx }
  local n_ctx = session:n_ctx()
  return function(text, i)
    local prompt = model:apply_chat_template(messages(o, text), { enable_thinking = false })
    local n_prompt = #model:tokenize(prompt, { special = true, bos = false })
    local src = #model:tokenize(text, { bos = false })
    local max_tokens = math.min(math.ceil(o.ratio * src) + 16, n_ctx - n_prompt)
    if max_tokens < 1 then
      error(("translate: chunk %d takes %d tokens in its prompt, no room left in the %d-token context"):format(i,
        n_prompt, n_ctx), 0)
    end
    local out, info = session:chat(messages(o, text), {
      enable_thinking = false, max_tokens = max_tokens, temperature = o.temperature, seed = (o.seed or 0) + i - 1,
      on_token = o.on_token,
    })
    info.n_prompt_total = n_prompt
    -- a thinking model may still open with an empty think block
    out = out:gsub("^%s*<think>.-</think>", "")
    return out, info
  end
end

--- Translates `text`: splits it (o.chunk_tokens), sends every chunk to
-- o.translate(text, i, n) -> translation[, info] and joins the results.
-- Calls o.on_chunk(i, n, chunk, translation, info) after each. Returns the
-- translated document and the split ({lead, trail, chunks} with each
-- chunk's output and info added).
function M.translate_document(model, text, o)
  local doc = M.split(model, text, o.chunk_tokens, o.count)
  local outputs = {}
  for i, c in ipairs(doc.chunks) do
    local out, info = o.translate(c.text, i, #doc.chunks)
    if type(out) ~= "string" then error(("translate: chunk %d: the translator returned %s"):format(i, type(out)), 0) end
    outputs[i], c.output, c.info = out, out, info
    if o.on_chunk then o.on_chunk(i, #doc.chunks, c, out, info) end
  end
  return M.join(doc, outputs), doc
end

--- The default chunk size for a context of n_ctx tokens (see the top).
function M.chunk_budget(model, o, n_ctx)
  local budget = (n_ctx - M.prompt_overhead(model, o) - 16) // (1 + o.ratio)
  if budget < 8 then
    error(("translate: a %d-token context leaves no room for text after the prompt (%d tokens). HINT: raise --ctx")
      :format(n_ctx, M.prompt_overhead(model, o)), 0)
  end
  return math.tointeger(budget)
end

local usage = [[
usage: vkagent agent examples/agents/translate.lua FILE [options]
  --to LANG          target language (default English)
  --from LANG        source language (default: the model tells)
  --output PATH      where the translation goes (default: FILE with .LANG before its extension)
  --model PATH       GGUF model, ideally an instruct model
  --device D         auto, cpu, vulkan, vulkan:N (default: auto)
  --ctx N            context size in tokens (default 4096, or the model's if smaller)
  --chunk-tokens N   source tokens per chunk (default: what fits the context, see the top of the file)
  --ratio R          room for the translation, in tokens per source token (default 2)
  --temperature T    (default 0: greedy)
  --seed N           (default 1)
  --quiet            do not stream the translation to stdout]]

local function default_output(path, to)
  local tag = to:lower():gsub("[^%w]+", "-")
  local stem, ext = path:match("^(.*)(%.[^./]+)$")
  if stem then return stem .. "." .. tag .. ext end
  return path .. "." .. tag
end

function M.main(args)
  local opts, rest = cli.parse(args, { to = "English", from = "", output = "", model = "", device = "auto", ctx = 4096,
                                       chunk_tokens = 0, ratio = 2.0, temperature = 0.0, seed = 1, quiet = false },
    usage)
  if #rest ~= 1 then
    io.stderr:write("translate: give one document to translate\n", usage, "\n")
    return 2
  end
  local path = rest[1]
  local f, err = io.open(path, "rb")
  if not f then
    io.stderr:write("translate: cannot read ", tostring(err), "\n")
    return 1
  end
  local text = f:read("a")
  f:close()
  local output = opts.output ~= "" and opts.output or default_output(path, opts.to)
  local model = vkagent.load(cli.find_model(opts.model), { device = opts.device })
  local info = model:info()
  local n_ctx = math.min(math.tointeger(opts.ctx) or 4096, info.n_ctx_train > 0 and info.n_ctx_train or 4096)
  local o = { to = opts.to, from = opts.from ~= "" and opts.from or nil, n_ctx = n_ctx, ratio = opts.ratio,
              temperature = opts.temperature, seed = math.tointeger(opts.seed) }
  o.chunk_tokens = opts.chunk_tokens >= 1 and math.tointeger(math.floor(opts.chunk_tokens))
    or M.chunk_budget(model, o, n_ctx)
  if not opts.quiet then o.on_token = function(piece) io.stdout:write(piece) io.stdout:flush() end end
  o.translate = M.model_translator(model, o)
  io.stderr:write(("model: %s (%s, chat template %s), %d-token context, on %s\n"):format(info.name,
    info.architecture, info.chat_template, n_ctx, info.device))
  io.stderr:write(("document: %s, %d bytes, %d tokens; chunks of at most %d tokens\n"):format(path, #text,
    #model:tokenize(text, { bos = false }), o.chunk_tokens))
  local total_in, total_out = 0, 0
  o.on_chunk = function(i, n, chunk, _, cinfo)
    total_in, total_out = total_in + chunk.tokens, total_out + cinfo.n_generated
    local paras = chunk.paragraphs[1] == chunk.paragraphs[2] and ("paragraph " .. chunk.paragraphs[1])
      or ("paragraphs " .. chunk.paragraphs[1] .. "-" .. chunk.paragraphs[2])
    if not opts.quiet then io.stdout:write("\n") end
    io.stderr:write(("chunk %d/%d (%s): %d tokens in, prompt %d tokens (%d reused), %d tokens out, %s, %.1f s\n")
      :format(i, n, paras, chunk.tokens, cinfo.n_prompt_total, cinfo.n_reused, cinfo.n_generated, cinfo.stop_reason,
        cinfo.prompt_seconds + cinfo.generate_seconds))
  end
  local result, doc = M.translate_document(model, text, o)
  local out = assert(io.open(output, "wb"))
  out:write(result)
  out:close()
  io.stderr:write(("%d chunks, %d tokens in, %d tokens out; wrote %s (%d bytes)\n"):format(#doc.chunks, total_in,
    total_out, output, #result))
  return 0
end

-- Run as a script: the chunk's own file is arg[0]. Loaded by dofile: a module.
if arg and arg[0] and debug.getinfo(1, "S").source == "@" .. arg[0] then
  os.exit(M.main(arg))
end
return M
