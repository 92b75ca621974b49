#!/usr/bin/env bash
# test_grammar_cli.sh VKAGENT — `vkagent grammar`: --check verdicts (one line
# per input line, blank lines, --encoded, exit codes), --sample walks over the
# Qwen3 vocabulary (every document passes --check, seeds reproduce, the cap is
# reported), the schema options on every command that takes --json-schema.
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

expect_exit() { # NAME CODE NEEDLE COMMAND...   (stdin from $tmp/in when it exists)
  local name=$1 code=$2 needle=$3; shift 3
  local in=/dev/null
  [[ -f $tmp/in ]] && in=$tmp/in
  "$@" >"$tmp/out" 2>"$tmp/err" <"$in"
  local got=$?
  ok
  [[ $got == "$code" ]] || fail "$name: exit $got, expected $code ($(head -c 300 "$tmp/err"))"
  [[ -z $needle ]] || grep -qF -- "$needle" "$tmp/err" "$tmp/out" || fail "$name: output lacks '$needle'"
}

expect_out() { # NAME WANTED (the whole of $tmp/out)
  ok
  [[ $(cat "$tmp/out") == "$2" ]] || fail "$1: printed '$(cat "$tmp/out")', expected '$2'"
}

schema='{"type":"object","properties":{"n":{"type":"integer"},"s":{"type":"string","maxLength":3}},"required":["n"],"additionalProperties":false}'

# ---- --check: one verdict per line, the empty line included, the last line without \n too ----
printf '{"n":1}\n{"n":1,"s":"abc"}\n{"n":1,"s":"abcd"}\n\n{"s":"a","n":1}\n{"n":1}\r\n{"n":2}' >"$tmp/in"
expect_exit "check" 0 "" "$vkagent" grammar --json-schema "$schema" --check
expect_out "check" $'accept\naccept\nreject\nreject\nreject\nreject\naccept'

# a schema file works as the inline text does
printf '%s' "$schema" >"$tmp/schema.json"
printf '{"n":7}\n' >"$tmp/in"
expect_exit "check, schema file" 0 "" "$vkagent" grammar --json-schema "$tmp/schema.json" --check
expect_out "check, schema file" "accept"

# --encoded: each line a JSON string holding the document
printf '"{\\"n\\":1}"\n"{\\"n\\":\\n1}"\n{"n":1}\n' >"$tmp/in"
expect_exit "check --encoded" 1 "" "$vkagent" grammar --json-schema "$schema" --check --encoded
expect_out "check --encoded" $'accept\nreject\nerror: the line is not a JSON string'

# GBNF files and any JSON
printf 'root ::= "a"{2,3}\n' >"$tmp/g.gbnf"
printf 'aa\na\naaaa\naaa\n' >"$tmp/in"
expect_exit "check gbnf" 0 "" "$vkagent" grammar --grammar-file "$tmp/g.gbnf" --check
expect_out "check gbnf" $'accept\nreject\nreject\naccept'
printf '[1,{"a":null}]\n[1,]\n' >"$tmp/in"
expect_exit "check json" 0 "" "$vkagent" grammar --json --check
expect_out "check json" $'accept\nreject'
rm -f "$tmp/in"

# conversion errors: exit 1 with the converter's message, nothing on stdout
expect_exit "check, bad schema" 1 "JSON schema at #/type" "$vkagent" grammar --json-schema '{"type":"nothing"}' --check
[[ ! -s $tmp/out ]] || fail "check, bad schema printed a verdict"

# ---- usage errors ----
expect_exit "check and sample" 2 "not both" "$vkagent" grammar --json --check --sample 2
expect_exit "encoded alone" 2 "--encoded" "$vkagent" grammar --json --encoded
expect_exit "seed alone" 2 "go with --sample" "$vkagent" grammar --json --seed 3
expect_exit "sample 0" 2 "--sample" "$vkagent" grammar --json --sample 0
expect_exit "schema option alone" 2 "go with --json-schema" "$vkagent" grammar --json --json-schema-strict

# ---- --sample: documents as JSON strings, each accepted by --check ----
expect_exit "sample" 0 "" "$vkagent" grammar --json-schema "$schema" --sample 8 --seed 3 --vocab "$vocab"
cp "$tmp/out" "$tmp/docs"
[[ $(wc -l <"$tmp/docs") == 8 ]] || fail "sample: $(wc -l <"$tmp/docs") documents, expected 8"
cp "$tmp/docs" "$tmp/in"
expect_exit "sample documents checked" 0 "" "$vkagent" grammar --json-schema "$schema" --check --encoded
[[ $(sort -u "$tmp/out") == accept ]] || fail "sample: a document the checker does not accept: $(paste "$tmp/out" "$tmp/docs")"
rm -f "$tmp/in"
# walk i is seed K+i: the fourth walk of seed 3 is the first of seed 6
expect_exit "sample seed" 0 "" "$vkagent" grammar --json-schema "$schema" --sample 1 --seed 6 --vocab "$vocab"
expect_out "sample seed" "$(sed -n 4p "$tmp/docs")"
# a recursive schema with the default vocabulary; documents under flexible whitespace
tree='{"$defs":{"t":{"type":"object","properties":{"v":{"type":"integer"},"k":{"type":"array","items":{"$ref":"#/$defs/t"}}},"required":["v","k"]}},"$ref":"#/$defs/t"}'
expect_exit "sample recursive" 0 "" "$vkagent" grammar --json-schema "$tree" --sample 6
[[ $(wc -l <"$tmp/out") == 6 ]] || fail "sample recursive: $(wc -l <"$tmp/out") documents"
# the cap: reported on stderr, no document printed, still exit 0
expect_exit "sample cap" 0 "reached 2 tokens without completing" "$vkagent" grammar --json-schema "$schema" --sample 2 --max-tokens 2
[[ ! -s $tmp/out ]] || fail "sample cap printed a document"
expect_exit "sample, bad vocab" 1 "" "$vkagent" grammar --json --sample 1 --vocab "$tmp/g.gbnf"

# ---- uniqueItems outside the grammar: "# vka:unique" annotations (engine/structured/json_unique.h) ----
printf '%s\n' 'root ::= "[" ( str ( "," str )* )? "]"' 'str ::= "\"" ( [ab] | "\\u006" [12] )* "\""' >"$tmp/plain.gbnf"
{ cat "$tmp/plain.gbnf"; echo '# vka:unique []'; } >"$tmp/u.gbnf"
printf '["a","b"]\n["a","a"]\n["a","\\u0061"]\n[]\n["ab","b","a"]\n' >"$tmp/in"
expect_exit "check unique" 0 "" "$vkagent" grammar --grammar-file "$tmp/u.gbnf" --check
expect_out "check unique" $'accept\nreject\nreject\naccept\naccept'
expect_exit "check unique, not annotated" 0 "" "$vkagent" grammar --grammar-file "$tmp/plain.gbnf" --check
expect_out "check unique, not annotated" $'accept\naccept\naccept\naccept\naccept'
rm -f "$tmp/in"
{ cat "$tmp/plain.gbnf"; echo '# vka:unique [true]'; } >"$tmp/bad.gbnf"
expect_exit "malformed annotation" 1 "line 3: malformed # vka:unique" "$vkagent" grammar --grammar-file "$tmp/bad.gbnf" --check
# random walks never repeat an element (decided by node's JSON.parse when node is there, else by the checker)
repeats() { # the number of repeated elements in the documents of $tmp/out
  node -e 'let n = 0; for (const l of require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean)) {
    const seen = new Set(); for (const x of JSON.parse(JSON.parse(l))) { n += seen.has(x); seen.add(x); } } console.log(n)' <"$tmp/out"
}
expect_exit "sample unique" 0 "" "$vkagent" grammar --grammar-file "$tmp/u.gbnf" --sample 40 --vocab "$vocab"
cp "$tmp/out" "$tmp/in"
[[ $(wc -l <"$tmp/in") == 40 ]] || fail "sample unique: $(wc -l <"$tmp/in") documents, expected 40"
if command -v node >/dev/null; then
  ok
  [[ $(repeats) == 0 ]] || fail "sample unique: $(repeats) repeated elements"
  expect_exit "sample, not annotated" 0 "" "$vkagent" grammar --grammar-file "$tmp/plain.gbnf" --sample 40 --vocab "$vocab"
  (($(repeats) > 5)) || fail "sample, not annotated: only $(repeats) repeats; the test above proves nothing"
fi
expect_exit "sample unique checked" 0 "" "$vkagent" grammar --grammar-file "$tmp/u.gbnf" --check --encoded
[[ $(sort -u "$tmp/out") == accept ]] || fail "sample unique: a document the checker does not accept"
rm -f "$tmp/in"
# the converter's annotations: short strings and a small integer range, where a
# token may lead into an element that can only end as a repeat (refused too)
for us in '{"type":"array","items":{"type":"string","maxLength":2},"uniqueItems":true,"maxItems":6}' \
          '{"type":"array","items":{"type":"integer","minimum":0,"maximum":9},"uniqueItems":true,"maxItems":6}'; do
  expect_exit "sample uniqueItems" 0 "" "$vkagent" grammar --json-schema "$us" --sample 40 --vocab "$vocab"
  [[ $(wc -l <"$tmp/out") == 40 ]] || fail "sample uniqueItems $us: $(wc -l <"$tmp/out") documents, expected 40"
  if command -v node >/dev/null; then
    ok
    [[ $(repeats) == 0 ]] || fail "sample uniqueItems $us: $(repeats) repeated elements"
  fi
done
printf '["a","b"]\n["a","\\u0061"]\n["ab","a","b"]\n' >"$tmp/in"
expect_exit "check uniqueItems" 0 "" "$vkagent" grammar --json-schema '{"type":"array","items":{"type":"string"},"uniqueItems":true}' --check
expect_out "check uniqueItems" $'accept\nreject\naccept'
rm -f "$tmp/in"

# ---- the schema options are taken by every command with --json-schema ----
for opt in --json-schema-strict --json-schema-lenient --json-schema-flexible-ws --json-schema-oneof-as-anyof; do
  expect_exit "grammar $opt" 0 "root ::=" "$vkagent" grammar --json-schema "$schema" "$opt"
  expect_exit "bench $opt" 0 "constrained sampling" "$vkagent" bench --grammar -m "$vocab" --json-schema "$schema" "$opt" -n 20
  for cmd in run grammar bench; do
    "$vkagent" "$cmd" --help | grep -qF -- "$opt" || fail "$cmd --help does not list $opt"
    ok
  done
done
# run converts the schema (and prints its warnings or error) before loading a model
expect_exit "run, bad schema" 1 "JSON schema at #/type" "$vkagent" run -m /nonexistent.gguf --json-schema '{"type":"nothing"}' --json-schema-strict

echo "$((checks - failures)) passed, $failures failed"
((failures == 0))
