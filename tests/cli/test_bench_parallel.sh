#!/usr/bin/env bash
# test_bench_parallel.sh VKAGENT — `vkagent bench --parallel` on the stories260K
# fixture (CPU): a row per N with the llama-batched-bench columns, the --json
# fields scripts read (tokens counted, KV blocks), the option errors exit 2.
# Speed is never checked. Exit 77 (skip) when the model fixture is missing.
set -u
vkagent=$1
data=${VKAGENT_TEST_DATA:-$(dirname "$0")/../../../shared}
model=$data/models/stories260K.gguf
[[ -f $model ]] || { echo "SKIP: fixture missing: $model (set VKAGENT_TEST_DATA)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0 checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { checks=$((checks + 1)); }

expect_exit() { # NAME CODE NEEDLE COMMAND...
  local name=$1 code=$2 needle=$3; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local got=$?
  ok
  [[ $got == "$code" ]] || fail "$name: exit $got, expected $code ($(head -c 300 "$tmp/err"))"
  [[ -z $needle ]] || grep -qF -- "$needle" "$tmp/err" "$tmp/out" || fail "$name: output lacks '$needle'"
}

# The table: a header with every column, then one row per N (PP, TG, B, N_KV first).
expect_exit "table" 0 "S_TG t/s" "$vkagent" bench -m "$model" --device cpu --parallel 1,2 -p 8 -n 4
for column in PP TG B N_KV "T_PP s" "S_PP t/s" "T_TG s" "S_TG t/s" "TG/seq t/s" "T s" "S t/s" "KV blocks"; do
  ok
  head -n 3 "$tmp/out" | grep -q "| *$column *|" || fail "table: no column '$column'"
done
ok
[[ $(grep -cE '^\| +[0-9]' "$tmp/out") == 2 ]] || fail "table: expected 2 rows: $(cat "$tmp/out")"
ok
grep -qE '^\| +8 \| +4 \| +1 \| +12 \|' "$tmp/out" || fail "table: no row for N=1 (PP 8, TG 4, N_KV 12)"
ok
grep -qE '^\| +8 \| +4 \| +2 \| +24 \|.*\| +2 \( ?1\.0/seq\) \|$' "$tmp/out" || fail "table: no row for N=2 with 2 KV blocks"

# --json: one object per N; every sequence generates -n tokens in the generation
# phase, in -n forward passes, and the prompts (distinct) in one pass.
expect_exit "json" 0 "" "$vkagent" bench -m "$model" --device cpu --parallel=1,3 -p 40 -n 4 --json
ok
[[ $(wc -l <"$tmp/out") == 2 ]] || fail "json: expected 2 lines: $(cat "$tmp/out")"
python3 - "$tmp/out" <<'PY' || fail "json: fields"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
assert [r["parallel"] for r in rows] == [1, 3], rows
for r in rows:
    n = r["parallel"]
    assert r["pp"] == 40 and r["tg"] == 4 and r["n_kv"] == n * 44, r
    assert r["tg_tokens"] == n * 4 and r["passes_tg"] == 4 and r["passes_pp"] == 1, r
    assert r["kv_blocks_used"] == n * 2 and r["kv_block_tokens"] == 32, r   # 45 tokens: 2 blocks each
    for k in ("pp_tokens_per_s", "tg_tokens_per_s", "tg_tokens_per_s_per_seq", "total_tokens_per_s"):
        assert r[k] > 0, (k, r)
    assert abs(r["tg_tokens_per_s_per_seq"] * n - r["tg_tokens_per_s"]) < 1e-6 * r["tg_tokens_per_s"], r
PY
# -b smaller than the prompts: they take several passes; the first sequence
# decodes during the prompt phase, so fewer tokens remain for the generation phase.
expect_exit "batch" 0 "" "$vkagent" bench -m "$model" --device cpu --parallel 2 -p 40 -n 2 -b 32 --json
ok
grep -qE '"tg_tokens":[23],' "$tmp/out" || fail "batch: $(cat "$tmp/out")"
ok
grep -qE '"passes_pp":[3-9]' "$tmp/out" || fail "batch: prompts of 80 tokens in passes of 32: $(cat "$tmp/out")"

expect_exit "bad list" 2 "--parallel" "$vkagent" bench -m "$model" --parallel 1,x -p 8 -n 2
expect_exit "zero" 2 "--parallel" "$vkagent" bench -m "$model" --parallel 0 -p 8 -n 2
expect_exit "no prompt" 2 "-p" "$vkagent" bench -m "$model" --parallel 2 -p 0 -n 2
ok
grep -q -- "--parallel" <("$vkagent" bench --help) || fail "help: no --parallel"

echo "$checks checks, $failures failures"
[[ $failures == 0 ]]
