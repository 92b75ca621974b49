#!/usr/bin/env bash
# test_cli_core.sh VKAGENT — the built `vkagent` on stories260K: --help and
# exit codes of every subcommand (0 ok, 1 runtime, 2 usage; 3 for `run`'s
# constrained output cut off), `run` against a
# llama2.c golden continuation, `logits --out` JSON against the golden logits,
# `tokenize`, `info`, `chat` with piped stdin, `grammar`, `synth`,
# `quantize`. Exit 77 (skip) when the fixtures are missing.
set -u
vkagent=$1
data=${VKAGENT_TEST_DATA:-$(dirname "$0")/../../../shared}
stories=$data/models/stories260K.gguf
golden=$data/models/stories260K.golden.json
moe=$data/fixtures/arch2/qwen3moe-f32.gguf
for f in "$stories" "$golden" "$moe"; do
  [[ -f $f ]] || { echo "SKIP: fixture missing: $f (set VKAGENT_TEST_DATA)"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
device=${VKAGENT_CLI_DEVICE:-cpu}

expect_exit() { # NAME CODE NEEDLE COMMAND...
  local name=$1 code=$2 needle=$3; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local got=$?
  [[ $got == "$code" ]] || fail "$name: exit $got, expected $code ($(head -c 300 "$tmp/err"))"
  [[ -z $needle ]] || grep -qF -- "$needle" "$tmp/err" "$tmp/out" || fail "$name: output lacks '$needle'"
}

# ---- --help everywhere, usage errors, runtime errors ----
for cmd in run chat serve logits tokenize template info grammar bench synth quantize; do
  expect_exit "$cmd --help" 0 "usage:" "$vkagent" "$cmd" --help
  expect_exit "$cmd --bogus" 2 "--bogus" "$vkagent" "$cmd" --bogus
done
expect_exit "no command" 2 "usage:" "$vkagent"
expect_exit "unknown command" 2 "unknown command" "$vkagent" frobnicate
expect_exit "missing model" 1 "/nonexistent.gguf" "$vkagent" run -m /nonexistent.gguf -p x
expect_exit "bad number" 2 "--temp" "$vkagent" run -m "$stories" --temp abc
expect_exit "corrupt model" 1 "magic" "$vkagent" info "$golden"
expect_exit "default model" 0 "" env -u VKAGENT_MODEL "$vkagent" run -n 2 --device "$device"

# ---- run: the llama2.c golden for "Lily and Tom", 60 greedy tokens ----
want=$(python3 -c 'import json,sys; g=[x for x in json.load(open(sys.argv[1]))["greedy"] if x["prompt"]=="Lily and Tom" and x["steps"]==64][0]; sys.stdout.write(g["text"])' "$golden")
got=$("$vkagent" run -m "$stories" -p "Lily and Tom" -n 60 --temp 0 --echo --device "$device" 2>"$tmp/err")
[[ "$got" == "$want" ]] || fail "run --echo greedy differs from the golden: '$got'"
grep -q "tokens/s" "$tmp/err" || fail "run prints no timing summary on stderr"
got=$("$vkagent" run -m "$stories" -p "Once upon a time" -n 40 --temp 0 --stop "little" --device "$device" 2>/dev/null)
[[ "$got" == ", there was a " ]] || fail "run --stop: '$got'"

# ---- run under a grammar: output cut off before the document is complete is exit 3 ----
printf 'root ::= ", there was a little girl"\n' >"$tmp/story.gbnf"
expect_exit "run grammar cut by -n" 3 "stopped before the grammar was complete (max tokens reached)" \
  "$vkagent" run -m "$stories" -p "Once upon a time" -n 3 --temp 0 --grammar-file "$tmp/story.gbnf" --device "$device"
grep -qF "not a valid document" "$tmp/err" || fail "run grammar cut by -n: stderr lacks 'not a valid document'"
expect_exit "run grammar complete" 0 "" \
  "$vkagent" run -m "$stories" -p "Once upon a time" -n 40 --temp 0 --grammar-file "$tmp/story.gbnf" --device "$device"
[[ $(cat "$tmp/out") == ", there was a little girl" ]] || fail "run grammar complete printed '$(cat "$tmp/out")'"
expect_exit "run grammar cut by --stop" 3 "(a stop string appeared)" \
  "$vkagent" run -m "$stories" -p "Once upon a time" -n 40 --temp 0 --stop little --grammar-file "$tmp/story.gbnf" --device "$device"
expect_exit "run json-schema cut by -n" 3 "max tokens reached" \
  "$vkagent" run -m "$stories" -p "Once upon a time" -n 3 --temp 0 --device "$device" \
  --json-schema '{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}'
expect_exit "run without a grammar cut by -n" 0 "" "$vkagent" run -m "$stories" -p "Once" -n 2 --temp 0 --device "$device"

# ---- logits --out: rows equal the golden logits within 1e-4 ----
ids=$(python3 -c 'import json,sys; print(",".join(str(p["input_token"]) for p in json.load(open(sys.argv[1]))["positions"]))' "$golden")
"$vkagent" logits -m "$stories" --tokens "$ids" --top 3 --out "$tmp/logits.json" --device "$device" >"$tmp/top" 2>"$tmp/err" \
  || fail "logits: $(cat "$tmp/err")"
python3 - "$golden" "$tmp/logits.json" <<'PY' || fail "logits --out differs from the golden"
import json, sys
g = json.load(open(sys.argv[1])); o = json.load(open(sys.argv[2]))
assert o["tokens"] == [p["input_token"] for p in g["positions"]], "tokens"
worst = max(abs(a - b) for p, row in zip(g["positions"], o["logits"]) for a, b in zip(p["logits"], row))
assert len(o["logits"]) == 16 and all(len(r) == 512 for r in o["logits"]), "shape"
assert worst <= 1e-4, f"max abs diff {worst}"
PY
grep -q "^pos 0 (input 1): 403:" "$tmp/top" || fail "logits --top: $(head -2 "$tmp/top")"

# ---- tokenize, info ----
out=$("$vkagent" tokenize -m "$stories" --json "Once upon a time")
[[ $out == '{"ids":[1,403,407,261,378],"pieces":["","Once"," upon"," a"," time"]}' || $out == *'"ids":[1,403,407,261,378]'* ]] \
  || fail "tokenize --json: $out"
"$vkagent" info "$stories" >"$tmp/info" || fail "info failed"
for needle in "general.architecture" "tokenizer.ggml.tokens" "[string x 512]" "blk.0.attn_q.weight" "n_head_kv 4" "memory on the device"; do
  grep -qF -- "$needle" "$tmp/info" || fail "info lacks '$needle'"
done
"$vkagent" info "$moe" >"$tmp/info" || fail "info on qwen3moe failed"
grep -qF "experts: 8, 2 per token, expert FFN 256, weights renormalised yes" "$tmp/info" || fail "info lacks the experts"

# ---- chat with piped stdin: replies, /reset, /system ----
printf 'Hello\n/reset\n/system Be kind.\nHi again\n/quit\nnever read\n' \
  | "$vkagent" chat -m "$stories" -n 8 --temp 0 --device "$device" >"$tmp/chat" 2>"$tmp/err" || fail "chat: $(cat "$tmp/err")"
[[ $(wc -l <"$tmp/chat") -ge 2 ]] || fail "chat printed $(wc -l <"$tmp/chat") reply lines"
grep -q "conversation reset" "$tmp/err" || fail "chat /reset not acknowledged"
grep -q "system message set" "$tmp/err" || fail "chat /system not acknowledged"

# ---- bench --json: the fields people script against (never the speed) ----
"$vkagent" bench -m "$stories" -p 8 -n 4 -r 1 --device "$device" --json >"$tmp/bench" 2>"$tmp/err" || fail "bench: $(cat "$tmp/err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); missing=[k for k in ("pp_tokens_per_s","tg_tokens_per_s","load_s","device") if k not in d]; assert not missing, missing' "$tmp/bench" \
  || fail "bench --json: $(cat "$tmp/bench")"
# -d: the tests run after a context of that many tokens, and say so
"$vkagent" bench -m "$stories" -p 8 -n 4 -d 40 -r 1 --device "$device" --json >"$tmp/bench" 2>"$tmp/err" || fail "bench -d: $(cat "$tmp/err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["depth"] == 40 and d["pp_tokens"] == 8, d' "$tmp/bench" \
  || fail "bench -d --json: $(cat "$tmp/bench")"
"$vkagent" bench -m "$stories" -p 8 -n 4 -d 40 -r 1 --device "$device" >"$tmp/bench" 2>"$tmp/err" || fail "bench -d: $(cat "$tmp/err")"
grep -q "pp8 @ d40" "$tmp/bench" || fail "bench -d label: $(cat "$tmp/bench")"
expect_exit "bench -d -1" 2 "-d" "$vkagent" bench -m "$stories" -d -1

# ---- grammar, synth, quantize ----
"$vkagent" grammar --json-schema '{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}' >"$tmp/g" \
  || fail "grammar --json-schema"
grep -q '^root ::= ' "$tmp/g" || fail "grammar prints no root rule"
expect_exit "grammar bad schema" 1 "pattern" "$vkagent" grammar --json-schema '{"type":"string","pattern":"(a)\\1"}'
"$vkagent" synth -o "$tmp/tiny.gguf" --preset stories260K --type q8_0 --dim 64 --ffn 192 2>/dev/null || fail "synth"
"$vkagent" run -m "$tmp/tiny.gguf" -n 4 --device "$device" >/dev/null 2>&1 || fail "run on a synth model"
"$vkagent" quantize "$tmp/tiny.gguf" "$tmp/tiny-q4.gguf" Q4_0 --allow-requantize 2>"$tmp/err" || fail "quantize: $(cat "$tmp/err")"
grep -q "\[ *1/" "$tmp/err" || fail "quantize shows no per-tensor progress"
expect_exit "quantize onto itself" 1 "overwrite" "$vkagent" quantize "$tmp/tiny.gguf" "$tmp/tiny.gguf" Q8_0

# ---- --logit-bias: a boost and a ban change the greedy text; bad values are usage errors ----
plain=$("$vkagent" run -m "$stories" --device "$device" --temp 0 -n 6 -p "Once upon a time" 2>/dev/null)
biased=$("$vkagent" run -m "$stories" --device "$device" --temp 0 -n 6 -p "Once upon a time" \
  --logit-bias 300=100 --logit-bias=5=-inf 2>/dev/null) || fail "run --logit-bias"
[[ -n $biased && $biased != "$plain" ]] || fail "--logit-bias changed nothing: '$biased'"
expect_exit "logit-bias without =" 2 "ID=BIAS" "$vkagent" run -m "$stories" --logit-bias 300
expect_exit "logit-bias +inf" 2 "ID=BIAS" "$vkagent" run -m "$stories" --logit-bias 300=inf
expect_exit "logit-bias id" 1 "outside the vocabulary" "$vkagent" run -m "$stories" --device "$device" -n 1 \
  --logit-bias 99999=1

# ---- devices: the public list, the CPU backend first, one device marked for auto ----
"$vkagent" devices >"$tmp/dev" 2>&1 || fail "devices: $(cat "$tmp/dev")"
grep -q "^[* ] cpu " "$tmp/dev" || fail "devices lists no CPU backend: $(cat "$tmp/dev")"
[[ $(grep -c "^\*" "$tmp/dev") == 1 ]] || fail "devices marks $(grep -c "^\*" "$tmp/dev") devices for auto"
"$vkagent" devices -m "$stories" --device cpu -c 64 >"$tmp/dev" 2>&1 || fail "devices -m: $(cat "$tmp/dev")"
grep -q "^model on cpu" "$tmp/dev" || fail "devices -m says nothing of the model: $(cat "$tmp/dev")"

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "all CLI checks passed"
