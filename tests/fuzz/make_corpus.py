#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpora of tests/fuzz/corpus/<target>/
from the tests' own inputs: GBNF grammars and JSON schemas quoted in the C
tests, tests/data/schemas, tests/data/chat_cases.json, the tokenizer vectors
of ../shared (VKAGENT_TEST_DATA), and small GGUF files written here (tiny
models of each architecture, a vocab-only file, every metadata type, and
hyperparameters out of range). Deterministic; re-run it after changing the
sources and commit the result. Seeds are capped in size so that the
committed corpora stay small."""
import hashlib
import json
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
DATA = os.environ.get("VKAGENT_TEST_DATA") or os.path.join(os.path.dirname(ROOT), "shared")
MAX_SEED = 16 << 10


def write_seeds(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    kept = 0
    for s in seeds:
        if isinstance(s, str):
            s = s.encode()
        if len(s) > MAX_SEED:
            continue
        name = hashlib.sha1(s).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(s)
        kept += 1
    print(f"{target}: {kept} seeds")


def c_string_literals(path):
    """The string literals of a C file, adjacent ones joined, unescaped."""
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"(?:\s*"((?:[^"\\\n]|\\.)*)")*', text):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
        raw = "".join(parts)
        try:
            out.append(raw.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode("utf-8"))
        except (UnicodeDecodeError, UnicodeEncodeError, ValueError):
            continue
    return out


# ---------------------------------------------------------------- GGUF

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack("<" + FMT[t], v)


def gguf(kvs, tensors, version=3, align=32):
    """kvs: [(key, type, value)]; tensors: [(name, type, dims, data bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offset = 0
    infos, blobs = b"", b""
    for name, ttype, dims, data in tensors:
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ttype, offset)
        pad = (-len(data)) % align
        blobs += data + b"\0" * pad
        offset += len(data) + pad
    out += infos
    out += b"\0" * ((-len(out)) % align)
    return out + blobs


def f32s(n, seed):
    vals, x = [], seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        vals.append((x / 0x7FFFFFFF - 0.5) * 0.2)
    return struct.pack(f"<{n}f", *vals)


def spm_vocab(n):
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)][: max(0, n - 3 - 20)]
    words = ["\u2581", "\u2581a", "\u2581the", "e", "t", "a", "o", "\u2581b", "he", "in", "er", "an", "re",
             "on", "\u2581s", "at", "\u2581w", "nd", "ou", "it"]
    tokens = (tokens + words)[:n]
    types = [2, 3, 3] + [6] * (len(tokens) - 3 - len(words)) + [1] * len(words)
    scores = [0.0] * 3 + [0.0] * (len(tokens) - 3 - len(words)) + [-float(i) for i in range(len(words))]
    return [
        ("tokenizer.ggml.model", STR, "llama"),
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.scores", ARR, (F32, scores[: len(tokens)])),
        ("tokenizer.ggml.token_type", ARR, (I32, types[: len(tokens)])),
        ("tokenizer.ggml.bos_token_id", U32, 1),
        ("tokenizer.ggml.eos_token_id", U32, 2),
        ("tokenizer.ggml.unknown_token_id", U32, 0),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
    ], len(tokens)


def bpe_vocab(pre):
    bytes_map = [chr(c) for c in range(ord("!"), ord("~") + 1)]
    tokens = bytes_map + ["\u0120", "\u0120t", "he", "\u0120the", "in", "er", "<|endoftext|>", "<|im_start|>",
                          "<|im_end|>"]
    types = [1] * (len(tokens) - 3) + [3, 3, 3]
    merges = ["\u0120 t", "h e", "\u0120t he", "i n", "e r"]
    return [
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.pre", STR, pre),
        ("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        ("tokenizer.ggml.token_type", ARR, (I32, types)),
        ("tokenizer.ggml.merges", ARR, (STR, merges)),
        ("tokenizer.ggml.eos_token_id", U32, len(tokens) - 1),
        ("tokenizer.chat_template", STR, "{% for message in messages %}<|im_start|>{{ message.role }}\n"),
    ], len(tokens)


def tiny_model(arch, hp_changes=None, vocab=None, embd_rows=None):
    """A whole model: n_embd 8, 2 heads sharing 1 KV head, one layer, f32."""
    kv_vocab, n_vocab = vocab or spm_vocab(40)
    hp = {"embedding_length": 8, "block_count": 1, "feed_forward_length": 16, "attention.head_count": 2,
          "attention.head_count_kv": 1, "context_length": 64}
    hp.update(hp_changes or {})
    kvs = [("general.architecture", STR, arch), ("general.name", STR, "fuzz-seed")]
    kvs += [(f"{arch}.{k}", U32, v) for k, v in hp.items() if v is not None]
    kvs += [(f"{arch}.attention.layer_norm_rms_epsilon", F32, 1e-5), (f"{arch}.rope.freq_base", F32, 10000.0)]
    kvs += kv_vocab
    E, F, hd = 8, 16, 4
    t = [("token_embd.weight", 0, [E, embd_rows or n_vocab], f32s(E * (embd_rows or n_vocab), 1)),
         ("output_norm.weight", 0, [E], f32s(E, 2))]
    blk = [("attn_norm.weight", [E]), ("attn_q.weight", [E, 2 * hd]), ("attn_k.weight", [E, hd]),
           ("attn_v.weight", [E, hd]), ("attn_output.weight", [2 * hd, E]), ("ffn_norm.weight", [E]),
           ("ffn_gate.weight", [E, F]), ("ffn_up.weight", [E, F]), ("ffn_down.weight", [F, E])]
    if arch == "qwen2":
        blk += [("attn_q.bias", [2 * hd]), ("attn_k.bias", [hd]), ("attn_v.bias", [hd])]
    if arch == "qwen3":
        blk += [("attn_q_norm.weight", [hd]), ("attn_k_norm.weight", [hd])]
    for i, (name, dims) in enumerate(blk):
        n = 1
        for d in dims:
            n *= d
        t.append((f"blk.0.{name}", 0, dims, f32s(n, 10 + i)))
    return gguf(kvs, t)


def every_type():
    kvs = [(f"t.{t}", t, v) for t, v in [(U8, 200), (I8, -5), (U16, 60000), (I16, -3000), (U32, 4000000000),
                                          (I32, -7), (F32, 1.5), (BOOL, True), (U64, 2**63), (I64, -2**40),
                                          (F64, 2.5)]]
    kvs += [("t.str", STR, "h\u00e9llo"), ("t.arr", ARR, (ARR, [(U8, [1, 2]), (STR, ["a", "bc"])])),
            ("t.empty", ARR, (F64, [])), ("general.alignment", U32, 64)]
    return gguf(kvs, [("x", 0, [4, 2], f32s(8, 3)), ("q", 8, [32], b"\0" * 34)], align=64)


def gguf_seeds():
    seeds = [tiny_model(a) for a in ("llama", "qwen2", "qwen3", "mistral")]
    seeds.append(tiny_model("qwen2", vocab=bpe_vocab("qwen2")))
    seeds.append(tiny_model("llama", vocab=bpe_vocab("llama-bpe")))
    kv_bpe, _ = bpe_vocab("gpt2")
    seeds.append(gguf([("general.architecture", STR, "llama")] + kv_bpe, []))     # vocab-only
    seeds.append(every_type())
    seeds.append(gguf([("general.architecture", STR, "llama")], [], version=2))
    # hyperparameters out of range: each must be refused naming its key
    for change in ({"attention.head_count_kv": 3}, {"attention.head_count": 0}, {"block_count": 0},
                   {"context_length": 0}, {"context_length": 1 << 30}, {"attention.key_length": 4096},
                   {"rope.dimension_count": 6}, {"feed_forward_length": None}, {"attention.head_count": 3}):
        seeds.append(tiny_model("llama", change))
    seeds.append(tiny_model("llama", embd_rows=41))
    return seeds


# ---------------------------------------------------------------- texts


def grammar_seeds():
    texts = []
    for f in ("test_grammar.c", "test_grammar_mask.c", "test_sampler.c"):
        p = os.path.join(ROOT, "tests", f)
        if os.path.exists(p):
            texts += [s for s in c_string_literals(p) if "::=" in s]
    inputs = ["a", "{\"a\":1}", "x" * 5, "\u00e9\u4e2d\U0001F600", "[1,2,[true,null]]", "(1+2)*3"]
    seeds = []
    for i, t in enumerate(texts):
        seeds.append(t)
        seeds.append(t.encode() + b"\0" + inputs[i % len(inputs)].encode())
    return seeds


def schema_texts():
    out = []
    d = os.path.join(ROOT, "tests", "data", "schemas")
    for f in sorted(os.listdir(d)):
        out.append(open(os.path.join(d, f), encoding="utf-8").read())
    for f in ("test_json_schema.c", "test_structured.c"):
        p = os.path.join(ROOT, "tests", f)
        if os.path.exists(p):
            for s in c_string_literals(p):
                try:
                    v = json.loads(s)
                except ValueError:
                    continue
                if isinstance(v, (dict, bool)):
                    out.append(s)
    return out


def json_schema_seeds():
    seeds = []
    for i, s in enumerate(schema_texts()):
        seeds.append(bytes([i % 16]) + s.encode())
    return seeds


def chat_cases():
    cases = json.load(open(os.path.join(ROOT, "tests", "data", "chat_cases.json"), encoding="utf-8"))["cases"]
    return cases


def chat_seeds():
    names = ["chatml", "qwen3", "llama3", "llama3.1", "llama2", "mistral", "mistral-v3", "zephyr", "gemma", "phi3"]
    seeds = []
    for i, c in enumerate(chat_cases()):
        fam = names.index(c["template"]) if c.get("template") in names else i % len(names)
        opts = fam | (0x10 if c.get("add_generation_prompt", True) else 0) | (0x20 if i % 2 else 0)
        body = json.dumps(c["messages"], ensure_ascii=False).encode()
        if c.get("tools"):
            body += b"\0" + json.dumps(c["tools"], ensure_ascii=False).encode()
        seeds.append(bytes([opts]) + body)
    return seeds


def lua_json_seeds():
    seeds = schema_texts()[:20]
    seeds += [json.dumps(c["messages"], ensure_ascii=False) for c in chat_cases()[:10]]
    seeds += ["null", "true", "-0", "1e308", "1e400", "9007199254740993", "-9007199254740992", "0.1",
              "\"\\ud83d\\ude00 \\u00e9 \\n\"", "\"\\ud800\"", "[]", "{}", "[[[[[]]]]]", "{\"a\":{\"a\":[1,{}]}}",
              "{\"a\":1,\"a\":2}", " [1 , 2 ] ", "\"\\u0000x\""]
    return seeds


def tokenizer_seeds():
    texts = []
    for name in ("qwen3", "llama3"):
        p = os.path.join(DATA, "tokenizers", f"{name}.vectors.json")
        if os.path.exists(p):
            texts += [c["text"] for c in json.load(open(p, encoding="utf-8"))["cases"]]
    texts += ["Once upon a time", "<|im_start|>user\nhi<|im_end|>", "<s>[INST] x [/INST]", "a\u2581b", "\xff\xfe"]
    seeds = []
    for i, t in enumerate(texts):
        seeds.append(bytes([i % 64]) + t.encode("utf-8", "surrogatepass"))
    return seeds


def grammar_match_seeds():
    seeds = []
    for g in range(5):
        # tokens 0..20 one by one with masks between, then raw bytes
        ops = bytearray([g])
        for tok in range(0, 60, 3):
            ops += bytes([2, tok, 1])
        ops += b"\x00{\x04\"a\":\x0812\x01\x03"
        seeds.append(bytes(ops))
    seeds.append(b"\x00\x00{\x01\x02\x0a\x01\x02\x05\x01")
    seeds.append(b"\x01\x00(\x001\x00+\x002\x00)\x01\x02\x42\x01")
    return seeds


def regex_seeds():
    pats = []
    p = os.path.join(ROOT, "tests", "test_regex.c")
    if os.path.exists(p):
        pats += c_string_literals(p)
    for text in schema_texts():
        pats += re.findall(r'"pattern"\s*:\s*"((?:[^"\\]|\\.)*)"', text)
    pats += ["^[a-z]+$", "^(?:\\d{1,3}\\.){3}\\d{1,3}$", "a|b*c?", "(?!x)\\w+", "\\p{L}+", "^\\S+@\\S+$"]
    strings = [b"", b"abc", b"2024-01-01", "\u00e9\u4e2d\U0001F600".encode(), b"a,b,c", b"\xff"]
    pats = list(dict.fromkeys(p for p in pats if p))[:160]  # unique, in order; the tests' patterns come first
    seeds = []
    for i, pat in enumerate(pats):
        seeds.append(pat.encode() + b"\0" + strings[i % len(strings)] + b"\0" + strings[(i + 1) % len(strings)])
    return seeds


def jinja_seeds():
    """Real chat templates (tests/data/templates, the smaller ones) with a
    conversation as context after a NUL, and the templates of test_jinja.c."""
    tdir = os.path.join(ROOT, "tests", "data", "templates")
    convs = sorted(f for f in os.listdir(os.path.join(tdir, "conversations")) if f.endswith(".json"))
    seeds = []
    for i, name in enumerate(sorted(f for f in os.listdir(tdir) if f.endswith(".jinja"))):
        text = open(os.path.join(tdir, name), encoding="utf-8").read()
        conv = json.load(open(os.path.join(tdir, "conversations", convs[i % len(convs)]), encoding="utf-8"))
        context = {"messages": conv["messages"], "tools": conv.get("tools"),
                   "add_generation_prompt": conv.get("add_generation_prompt", True)}
        context.update(conv.get("variables", {}))
        seeds.append(text.encode() + b"\0" + json.dumps(context, ensure_ascii=False).encode())
    for s in c_string_literals(os.path.join(ROOT, "tests", "test_jinja.c")):
        if "{{" in s or "{%" in s:
            seeds.append(s)
    return seeds


def tool_calls_seeds():
    """The model texts of test_tool_calls.c, each under every format (the
    first byte), so that each format's parser sees every syntax."""
    texts = [s for s in c_string_literals(os.path.join(ROOT, "tests", "test_tool_calls.c"))
             if any(m in s for m in ("<tool_call>", "[TOOL_CALLS]", "python_tag", '{"name"'))]
    return [bytes([f]) + t.encode() if isinstance(t, str) else bytes([f]) + t for t in texts for f in range(7)]


def main():
    write_seeds("gguf", gguf_seeds())
    write_seeds("tokenizer", tokenizer_seeds())
    write_seeds("gbnf", grammar_seeds())
    write_seeds("json_schema", json_schema_seeds())
    write_seeds("grammar_match", grammar_match_seeds())
    write_seeds("chat", chat_seeds())
    write_seeds("lua_json", lua_json_seeds())
    write_seeds("regex", regex_seeds())
    write_seeds("jinja", jinja_seeds())
    write_seeds("tool_calls", tool_calls_seeds())
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(CORPUS) for f in fs)
    print(f"total {total // 1024} KiB")


if __name__ == "__main__":
    sys.exit(main())
