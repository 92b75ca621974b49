#!/usr/bin/env bash
# test_run_session.sh VKAGENT — `vkagent run --session FILE` on stories260K
# (greedy): a run split over two calls through the file prints what one run
# prints; the same prompt again reuses the saved tokens (nothing read again);
# a file from another model or a corrupt one is refused, and left as it was.
# Exit 77 (skip) when the fixture is missing.
set -u
vkagent=$1
data=${VKAGENT_TEST_DATA:-$(dirname "$0")/../../../shared}
model=$data/models/stories260K.gguf
other=$data/models/stories260K-q8_0.gguf
for f in "$model" "$other"; do
  [[ -f $f ]] || { echo "SKIP: fixture missing: $f (set VKAGENT_TEST_DATA)"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
run() { "$vkagent" run -m "$model" --device cpu --temp 0 "$@"; }

# One run of 40 tokens = a run of 20 saved to the file + a run of 20 continuing it.
run -n 40 -p "Once upon a time" >"$tmp/whole" 2>/dev/null || fail "plain run: exit $?"
run -n 20 -p "Once upon a time" --session "$tmp/s.vkas" >"$tmp/part1" 2>"$tmp/err1" || fail "first part: exit $?"
grep -q "session: 25 tokens saved" "$tmp/err1" || fail "first part: no save message: $(cat "$tmp/err1")"
run -n 20 --session "$tmp/s.vkas" >"$tmp/part2" 2>"$tmp/err2" || fail "second part: exit $?"
grep -q "25 tokens loaded" "$tmp/err2" || fail "second part: no load message: $(cat "$tmp/err2")"
joined=$(printf '%s%s' "$(cat "$tmp/part1")" "$(cat "$tmp/part2")")
[[ $joined == "$(cat "$tmp/whole")" ]] || fail "split run differs: '$joined' vs '$(cat "$tmp/whole")'"

# The same prompt again: its 5 tokens come from the file (0 prompt tokens read).
run -n 5 -p "Once upon a time" --session "$tmp/s.vkas" >"$tmp/again" 2>"$tmp/err3" || fail "prompt again: exit $?"
grep -q "5 reused by the prompt" "$tmp/err3" || fail "prompt again: not reused: $(cat "$tmp/err3")"
grep -q "prompt: 0 tokens" "$tmp/err3" || fail "prompt again: the prompt was read again: $(cat "$tmp/err3")"
[[ $(cat "$tmp/again") == "$(run -n 5 -p "Once upon a time" 2>/dev/null)" ]] || fail "prompt again: other text"

# Refusals: another model's file, a corrupt file; neither is overwritten.
cp "$tmp/s.vkas" "$tmp/keep.vkas"
"$vkagent" run -m "$other" --device cpu -n 3 --session "$tmp/s.vkas" >/dev/null 2>"$tmp/err4"
[[ $? == 1 ]] || fail "other model: exit status"
grep -q "another model" "$tmp/err4" || fail "other model: message: $(cat "$tmp/err4")"
cmp -s "$tmp/s.vkas" "$tmp/keep.vkas" || fail "other model: the file was changed"
head -c 1000 "$tmp/keep.vkas" >"$tmp/cut.vkas"
run -n 3 --session "$tmp/cut.vkas" >/dev/null 2>"$tmp/err5"
[[ $? == 1 ]] || fail "truncated: exit status"
grep -q "truncated" "$tmp/err5" || fail "truncated: message: $(cat "$tmp/err5")"

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "ok"
