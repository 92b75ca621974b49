#!/usr/bin/env bash
# test_cli.sh VKAGENT — runs the built `vkagent` on the vocab-only GGUFs of
# ../shared/fixtures/vocab: `template` against the chat-template goldens of
# ../shared/tokenizers/*.chat.json (every case, through files and stdin),
# `tokenize --json` against reference ids of ../shared/tokenizers/*.vectors.json,
# usage and runtime errors, and a `bench --tokenizer` smoke run (its output
# fields, never its speed). Exit 77 (skip) when the fixtures are missing.
set -u
vkagent=$1
data=${VKAGENT_TEST_DATA:-$(dirname "$0")/../../../shared}
qwen3=$data/fixtures/vocab/qwen3.gguf
llama3=$data/fixtures/vocab/llama3.gguf
for f in "$qwen3" "$llama3" "$data/tokenizers/qwen3.chat.json" "$data/tokenizers/llama3.chat.json"; do
  [[ -f $f ]] || { echo "SKIP: fixture missing: $f (set VKAGENT_TEST_DATA)"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to read the JSON goldens"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_output NAME WANT_FILE COMMAND...: stdout must equal WANT_FILE byte for byte, exit 0
expect_output() {
  local name=$1 want=$2; shift 2
  if ! "$@" >"$tmp/out" 2>"$tmp/err"; then fail "$name: exit $? ($(cat "$tmp/err"))"; return; fi
  cmp -s "$tmp/out" "$want" || fail "$name: output differs: $(head -c 300 "$tmp/out" | od -c | head -5)"
}

# expect_exit NAME CODE NEEDLE COMMAND...: exit status CODE, stderr mentions NEEDLE
expect_exit() {
  local name=$1 code=$2 needle=$3; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [[ $got == "$code" ]] || fail "$name: exit $got, expected $code"
  grep -qF -- "$needle" "$tmp/err" || fail "$name: stderr lacks '$needle': $(cat "$tmp/err")"
}

# ---- template: every golden render, from files ----
for model in qwen3 llama3; do
  python3 - "$data/tokenizers/$model.chat.json" "$tmp/$model" <<'PY' || fail "$model: cannot read chat goldens"
import json, sys, os
renders = json.load(open(sys.argv[1]))["renders"]
os.makedirs(sys.argv[2], exist_ok=True)
for i, r in enumerate(renders):
    base = os.path.join(sys.argv[2], str(i))
    json.dump(r["input"]["messages"], open(base + ".messages.json", "w"), ensure_ascii=False)
    if "tools" in r["input"]:
        json.dump(r["input"]["tools"], open(base + ".tools.json", "w"), ensure_ascii=False)
    flags = []
    if r["input"].get("add_generation_prompt") is False: flags.append("--no-generation-prompt")
    if r["input"].get("enable_thinking") is False: flags.append("--no-thinking")
    open(base + ".flags", "w").write(" ".join(flags))
    open(base + ".want", "wb").write(r["rendered"].encode())
PY
  n=0
  for want in "$tmp/$model"/*.want; do
    base=${want%.want}
    args=(-m "$data/fixtures/vocab/$model.gguf" --messages "$base.messages.json")
    [[ -f $base.tools.json ]] && args+=(--tools "$base.tools.json")
    read -r -a flags <"$base.flags" || true
    expect_output "template $model case $(basename "$base")" "$want" "$vkagent" template "${args[@]}" "${flags[@]}"
    n=$((n + 1))
  done
  [[ $n -gt 0 ]] || fail "$model: no golden renders found"
done

# ---- template: stdin, the Chinese round trip text, options, errors ----
printf '[{"role": "user", "content": "我想了解关于GPT-4的更多信息。"}]' >"$tmp/zh.json"
printf '<|im_start|>user\n我想了解关于GPT-4的更多信息。<|im_end|>\n<|im_start|>assistant\n' >"$tmp/zh.want"
expect_output "template from stdin" "$tmp/zh.want" "$vkagent" template -m "$qwen3" --messages - <"$tmp/zh.json"
printf '<|im_start|>user\n我想了解关于GPT-4的更多信息。<|im_end|>\n' >"$tmp/zh-nogen.want"
expect_output "template --no-generation-prompt" "$tmp/zh-nogen.want" \
  "$vkagent" template -m "$qwen3" --messages "$tmp/zh.json" --no-generation-prompt
expect_output "template --template chatml on llama3" "$tmp/zh.want" \
  "$vkagent" template -m "$llama3" --messages "$tmp/zh.json" --template chatml
expect_exit "template without --messages" 2 "--messages FILE.json is required" "$vkagent" template -m "$qwen3"
expect_exit "template unknown option" 2 "unknown argument '--bogus'" "$vkagent" template -m "$qwen3" --bogus
expect_exit "template missing file" 1 "cannot open '$tmp/none.json'" \
  "$vkagent" template -m "$qwen3" --messages "$tmp/none.json"
printf '[{"role": "user", "content": ' >"$tmp/bad.json"
expect_exit "template malformed JSON" 1 "vkagent template: rendering the chat template" \
  "$vkagent" template -m "$qwen3" --messages "$tmp/bad.json"
expect_exit "template unknown family" 2 "llama3.1" \
  "$vkagent" template -m "$qwen3" --messages "$tmp/zh.json" --template no-such-family

# ---- tokenize --json (ids from the reference vectors; pieces are their texts) ----
printf '{"ids":[9707,11,1879,0],"pieces":["Hello",","," world","!"]}\n' >"$tmp/hello-qwen3.want"
expect_output "tokenize qwen3" "$tmp/hello-qwen3.want" "$vkagent" tokenize -m "$qwen3" --json "Hello, world!"
# Llama-3 adds BOS (add_bos_token true), unless --no-bos
printf '{"ids":[128000,9906,11,1917,0],"pieces":["<|begin_of_text|>","Hello",","," world","!"]}\n' \
  >"$tmp/hello-llama3.want"
expect_output "tokenize llama3" "$tmp/hello-llama3.want" "$vkagent" tokenize -m "$llama3" --json "Hello, world!"
printf '{"ids":[9906,11,1917,0],"pieces":["Hello",","," world","!"]}\n' >"$tmp/hello-llama3-nobos.want"
expect_output "tokenize llama3 --no-bos" "$tmp/hello-llama3-nobos.want" \
  "$vkagent" tokenize -m "$llama3" --json --no-bos "Hello, world!"
printf '你好，世界！今天天气很好。' >"$tmp/zh.txt"
printf '{"ids":[108386,3837,99489,6313,100644,104307,101243,1773],"pieces":["你好","，","世界","！","今天","天气","很好","。"]}\n' \
  >"$tmp/zh-tok.want"
expect_output "tokenize qwen3 -f" "$tmp/zh-tok.want" "$vkagent" tokenize -m "$qwen3" --json -f "$tmp/zh.txt"
printf '{"ids":[151644,872,151645],"pieces":["<|im_start|>","user","<|im_end|>"]}\n' >"$tmp/special.want"
expect_output "tokenize --special" "$tmp/special.want" \
  "$vkagent" tokenize -m "$qwen3" --json --special "<|im_start|>user<|im_end|>"
expect_exit "tokenize without text" 2 "give a TEXT or -f FILE" "$vkagent" tokenize -m "$qwen3"

# ---- bench --tokenizer: runs and reports (speed is not checked) ----
printf 'Hello, world!' >"$tmp/hello.txt"
if "$vkagent" bench --tokenizer -m "$qwen3" --file "$tmp/hello.txt" --reps 1 --json >"$tmp/bench" 2>"$tmp/err"; then
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["bytes"] == 13 and r["tokens"] == 4 and r["reps"] == 1, r
assert r["median_mb_per_s"] >= 0 and r["median_seconds"] >= 0, r
' "$tmp/bench" || fail "bench --tokenizer --json fields: $(cat "$tmp/bench")"
else
  fail "bench --tokenizer: $(cat "$tmp/err")"
fi
expect_exit "bench --tokenizer --reps 0" 2 "--reps" "$vkagent" bench --tokenizer -m "$qwen3" --reps 0

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all CLI checks passed"
