#!/usr/bin/env bash
# test_chat_shift.sh VKAGENT — `vkagent chat` past its context on stories260K
# (chatml, greedy): when a message does not fit, the oldest exchange leaves
# the session by a context shift (the rest of the history stays in the KV
# cache: "dropped the oldest exchange", not "reading the rest again"), and
# every message still gets a reply. Exit 77 (skip) when the fixture is missing.
set -u
vkagent=$1
data=${VKAGENT_TEST_DATA:-$(dirname "$0")/../../../shared}
model=$data/models/stories260K.gguf
[[ -f $model ]] || { echo "SKIP: fixture missing: $model (set VKAGENT_TEST_DATA)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

printf '%s\n' "Tell me a story about a cat." "What did the cat eat?" "Where did the cat go?" "Who was the friend?" \
  "What happened next?" "How did it end?" "Tell me more." >"$tmp/in"
"$vkagent" chat -m "$model" --device cpu --template chatml -c 256 -n 20 --temp 0 <"$tmp/in" >"$tmp/out" 2>"$tmp/err" \
  || fail "chat: exit $? ($(cat "$tmp/err"))"
shifts=$(grep -c "context full: dropped the oldest exchange\]" "$tmp/err")
((shifts >= 2)) || fail "expected the oldest exchanges to be shifted out at least twice, got $shifts: $(cat "$tmp/err")"
grep -q "reading the rest again" "$tmp/err" && fail "an exchange was not shifted out: $(cat "$tmp/err")"
replies=$(grep -c . "$tmp/out")
((replies >= 7)) || fail "expected a reply to each of the 7 messages, got $replies lines: $(cat "$tmp/out")"

if ((failures)); then echo "$failures failure(s)"; exit 1; fi
echo "ok"
