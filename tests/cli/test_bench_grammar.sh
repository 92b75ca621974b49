#!/usr/bin/env bash
# test_bench_grammar.sh VKAGENT — `vkagent bench --grammar` over a small corpus
# (schemas, a GBNF grammar, a schema the converter refuses): every source is
# reported, refusals are counted by reason, the --json-out fields people script
# against are there, and the option errors exit 2. Speed is never checked.
# Exit 77 (skip) when the vocabulary fixture is missing.
set -u
vkagent=$1
data=${VKAGENT_TEST_DATA:-$(dirname "$0")/../../../shared}
vocab=$data/fixtures/vocab/qwen3.gguf
[[ -f $vocab ]] || { echo "SKIP: fixture missing: $vocab (set VKAGENT_TEST_DATA)"; exit 77; }
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

mkdir "$tmp/corpus"
echo '{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string","maxLength":5}},"required":["a","b"],"additionalProperties":false}' >"$tmp/corpus/1-object.json"
echo '{"enum":["red","green","blue"]}' >"$tmp/corpus/2-enum.json"
echo '{"type":"nothing"}' >"$tmp/corpus/3-bad.json"
printf 'root ::= "x" [0-9]{1,3}\n' >"$tmp/corpus/4-digits.gbnf"
echo 'not a schema source' >"$tmp/corpus/README"

expect_exit "corpus" 0 "constrained sampling" "$vkagent" bench --grammar -m "$vocab" --corpus "$tmp/corpus" -n 30
for name in 1-object.json 2-enum.json 3-bad.json 4-digits.gbnf; do
  ok
  grep -qF "$name" "$tmp/out" || fail "corpus: no line for $name"
done
ok
grep -q "refused.*3-bad.json" "$tmp/out" || fail "corpus: 3-bad.json not reported as refused"
ok
! grep -qF README "$tmp/out" || fail "corpus: a file that is neither *.json nor *.gbnf was run"

expect_exit "json-out" 0 "" "$vkagent" bench --grammar -m "$vocab" --corpus "$tmp/corpus" --json-schema "$tmp/corpus/2-enum.json" --json -n 30 --json-out
ok
python3 - "$tmp/out" <<'PY' || fail "json-out fields: $(head -c 600 "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("vocab", "sources", "compile_ms", "compile_ms_up_to_100kb", "convert_ms", "grammar_ms", "mask_us", "mask_cpu_us",
          "refused", "refused_by_reason", "failed_by_reason"):
    assert k in d, k
assert len(d["sources"]) == 6, len(d["sources"])           # 4 in the corpus, the schema again, any JSON
assert d["refused"] == 1 and sum(d["refused_by_reason"].values()) == 1, d["refused_by_reason"]
for s in d["sources"]:
    if s["status"] == "refused":
        assert s["name"].endswith("3-bad.json") and "error" in s, s
        continue
    assert s["status"] == "ok", s
    assert s["tokens"] >= 30 and s["mask_us"]["n"] > 0 and s["mask_cpu_us"]["n"] == s["mask_us"]["n"], s
    assert 0 <= s["convert_ms"] <= s["compile_ms"], s
    assert 0 < s["mask_us"]["p50"] <= s["mask_us"]["p99"] <= s["mask_us"]["max"], s
for k in ("p50", "p99", "max", "n"):
    assert k in d["mask_us"] and k in d["compile_ms"], k
assert d["mask_us"]["n"] == sum(s["mask_us"]["n"] for s in d["sources"] if s["status"] == "ok")
PY

expect_exit "no such corpus" 2 "cannot open the corpus directory" "$vkagent" bench --grammar -m "$vocab" --corpus "$tmp/none"
mkdir "$tmp/empty"
expect_exit "empty corpus" 2 "holds no" "$vkagent" bench --grammar -m "$vocab" --corpus "$tmp/empty"
expect_exit "unknown option" 2 "unknown argument" "$vkagent" bench --grammar -m "$vocab" --bogus
expect_exit "help" 0 "--corpus" "$vkagent" bench --grammar --help
expect_exit "schema options" 0 "constrained sampling" "$vkagent" bench --grammar -m "$vocab" --json-schema "$tmp/corpus/1-object.json" --json-schema-strict -n 10

echo "$((checks - failures)) passed, $failures failed"
((failures == 0))
