#!/usr/bin/env bash
# test_cli_hostile.sh VKAGENT — hostile models through the `vkagent`
# command: metadata out of range is refused with the key named by every
# command (`info` included: it once died of SIGFPE), and a context that
# cannot fit in memory is refused at once, saying what to lower; a context
# longer than the training context warns. The GGUFs are written by
# tests/fuzz/make_corpus.py's builders. Exit 77 (skip) without the fixtures.
set -u
vkagent=$1
src=${VKAGENT_SOURCE_DIR:-$(dirname "$0")/../..}
data=${VKAGENT_TEST_DATA:-$src/../shared}
stories=$data/models/stories260K.gguf
[[ -f $stories ]] || { echo "SKIP: fixture missing: $stories (set VKAGENT_TEST_DATA)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

expect_exit() { # NAME CODE NEEDLE COMMAND...
  local name=$1 code=$2 needle=$3; shift 3
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local got=$?
  [[ $got == "$code" ]] || fail "$name: exit $got, expected $code ($(head -c 300 "$tmp/err"))"
  [[ -z $needle ]] || grep -qF -- "$needle" "$tmp/err" "$tmp/out" || fail "$name: output lacks '$needle'"
}

# A tiny llama model (n_embd 8, 2 heads sharing 1 KV head) with one change.
write_model() { # OUT KEY VALUE
  python3 - "$src/tests/fuzz" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import make_corpus as m
out, key, value = sys.argv[2], sys.argv[3], sys.argv[4]
hp = {"attention.head_count": 8, "embedding_length": 32} if key == "attention.head_count_kv" and value == "3" else {}
hp[key] = None if value == "absent" else int(value)
open(out, "wb").write(m.tiny_model("llama", hp))
PY
}

# ---- metadata out of range: every command names the key ----
echo '[{"role": "user", "content": "hi"}]' >"$tmp/msgs.json"
cases=(
  "attention.head_count_kv 0 'llama.attention.head_count_kv' is 0"
  "attention.head_count_kv 3 'llama.attention.head_count_kv' (3)"
  "attention.head_count 0 'llama.attention.head_count' is 0"
  "block_count 0 'llama.block_count' is 0"
  "context_length 0 'llama.context_length' is 0"
  "context_length 4000000000 'llama.context_length' is 4000000000"
  "rope.dimension_count 6 'llama.rope.dimension_count' is 6"
  "attention.key_length 100000 'llama.attention.key_length' is 100000"
  "feed_forward_length 0 'llama.feed_forward_length' is 0"
)
for c in "${cases[@]}"; do
  read -r key value needle <<<"$c"
  model="$tmp/${key}-$value.gguf"
  write_model "$model" "$key" "$value" || { fail "writing $model"; continue; }
  expect_exit "info, $key $value" 1 "$needle" "$vkagent" info "$model"
  expect_exit "tokenize, $key $value" 1 "$needle" "$vkagent" tokenize -m "$model" hi
  expect_exit "template, $key $value" 1 "$needle" "$vkagent" template -m "$model" --messages "$tmp/msgs.json"
  expect_exit "run, $key $value" 1 "$needle" "$vkagent" run -m "$model" --device cpu -n 1 -p hi
done
# the untouched model loads
write_model "$tmp/ok.gguf" context_length 64
expect_exit "info, a valid tiny model" 0 "n_head_kv 1" "$vkagent" info "$tmp/ok.gguf"

# ---- memory sized by input ----
# 8 layers of one 1024-wide head: 64 KiB of f32 KV cache a token, 1 TiB at 2^24 tokens.
"$vkagent" synth -o "$tmp/bigkv.gguf" --arch llama --dim 64 --layers 8 --heads 1 --kv-heads 1 --ffn 64 \
  --ctx 4096 --vocab 300 --head-dim 1024 --type F32 >/dev/null 2>&1 || fail "synth of the big-cache model"
start=$SECONDS
expect_exit "run -c 16777216" 1 "needs 1024.0 GiB of KV cache (f32)" \
  "$vkagent" run -m "$tmp/bigkv.gguf" --device cpu -c 16777216 -n 1 -p hi
grep -qF "lower the context size (n_ctx, -c)" "$tmp/err" || fail "run -c 16777216: no hint to lower -c"
((SECONDS - start <= 10)) || fail "run -c 16777216 took $((SECONDS - start)) s to refuse"
expect_exit "chat -c 16777216" 1 "needs 1024.0 GiB of KV cache" \
  "$vkagent" chat -m "$tmp/bigkv.gguf" --device cpu -c 16777216
expect_exit "longer than trained" 0 "larger than the model's training context (512 tokens)" \
  "$vkagent" run -m "$stories" --device cpu -c 1024 -n 1 -p hi

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "ok"
