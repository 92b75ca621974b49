#!/usr/bin/env bash
# test_cli_people.sh VKAGENT — the command line as people use it: --version;
# every usage error exits 2 with one line and a hint to --help, before
# anything is loaded (--device gpu, chat --template foo); --seed -1 prints a
# seed that repeats the run; -f - reads standard input; chat's /help, unknown
# /commands and --stop; a vocab-only file given to run/chat/logits/agent says
# what it is for; \r progress only on a terminal; chat's line editing and
# history on a pseudo-terminal (python3's pty). Exit 77 (skip) when the
# fixtures are missing.
set -u
vkagent=$1
data=${VKAGENT_TEST_DATA:-$(dirname "$0")/../../../shared}
stories=$data/models/stories260K.gguf
vocab=$data/fixtures/vocab/qwen3.gguf
for f in "$stories" "$vocab"; do
  [[ -f $f ]] || { echo "SKIP: fixture missing: $f (set VKAGENT_TEST_DATA)"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 is needed for the terminal checks"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
export VKAGENT_HISTORY=$tmp/history # never the tester's own history

expect_exit() { # NAME CODE NEEDLE COMMAND...
  local name=$1 code=$2 needle=$3; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local got=$?
  [[ $got == "$code" ]] || fail "$name: exit $got, expected $code ($(head -c 300 "$tmp/err"))"
  [[ -z $needle ]] || grep -qF -- "$needle" "$tmp/err" || fail "$name: stderr lacks '$needle': $(head -c 300 "$tmp/err")"
}

# ---- --version ----
for v in --version version; do
  expect_exit "$v" 0 "" "$vkagent" $v
  grep -qE '^vkagent [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out" || fail "$v printed '$(cat "$tmp/out")'"
done
expect_exit "version with an argument" 2 "unexpected argument 'x'" "$vkagent" version x

# ---- usage errors: exit 2, one line and a hint, nothing loaded (the model does not exist) ----
nomodel=$tmp/none.gguf
usage_errors=(
  "run -m $nomodel --device gpu"
  "run -m $nomodel --device vulkan:x"
  "run -m $nomodel --bogus"
  "run -m $nomodel -n"
  "run -m $nomodel -n many"
  "run -m $nomodel --seed -2"
  "run -m $nomodel --kv-type f8"
  "run -m $nomodel --stop="
  "run -m $nomodel -p a -f b"
  "chat -m $nomodel --template foo"
  "chat -m $nomodel --device gpu"
  "chat -m $nomodel --stop="
  "chat -m $nomodel --bogus"
  "template -m $nomodel --messages - --template foo"
  "logits -m $nomodel --device gpu -p x"
  "logits -m $nomodel --tokens 1,x"
  "bench -m $nomodel --device gpu"
  "bench -m $nomodel -r 0"
  "devices -m $nomodel --device gpu"
  "tokenize -m $nomodel"
  "tokenize -m $nomodel -f"
  "info --bogus"
  "agent"
  "agent --bogus"
  "grammar"
  "synth --type q9"
  "quantize a b"
  "frobnicate"
)
for args in "${usage_errors[@]}"; do
  read -r -a argv <<<"$args"
  expect_exit "$args" 2 "--help" "$vkagent" "${argv[@]}"
  lines=$(wc -l <"$tmp/err")
  [[ $lines -le 2 ]] || fail "$args: $lines lines on stderr, expected a message and a hint: $(cat "$tmp/err")"
  grep -q "$nomodel" "$tmp/err" && fail "$args: tried the model before reporting the usage error: $(cat "$tmp/err")"
done
grep -qF "chatml, qwen3" <("$vkagent" chat -m "$nomodel" --template foo 2>&1) || fail "chat --template foo does not list the families"
# the help texts document the exit codes
"$vkagent" --help | grep -qF "2 usage error" || fail "vkagent --help does not document the exit codes"

# ---- --seed -1: a random seed, printed, that repeats the run ----
run=("$vkagent" run -m "$stories" --device cpu -p "Once upon a time" -n 24 --temp 1)
"${run[@]}" --seed -1 >"$tmp/r1" 2>"$tmp/e1" || fail "run --seed -1: $(cat "$tmp/e1")"
seed=$(sed -n 's/^vkagent run: seed: \([0-9]*\) .*/\1/p' "$tmp/e1")
if [[ -z $seed ]]; then
  fail "run --seed -1 printed no seed: $(cat "$tmp/e1")"
else
  "${run[@]}" --seed "$seed" >"$tmp/r2" 2>/dev/null
  cmp -s "$tmp/r1" "$tmp/r2" || fail "--seed $seed does not repeat the --seed -1 run: '$(cat "$tmp/r1")' vs '$(cat "$tmp/r2")'"
  "${run[@]}" --seed=-1 >/dev/null 2>"$tmp/e3"
  seed2=$(sed -n 's/^vkagent run: seed: \([0-9]*\) .*/\1/p' "$tmp/e3")
  [[ -n $seed2 && $seed2 != "$seed" ]] || fail "--seed=-1 twice gave '$seed' and '$seed2'"
fi

# ---- -f -: the prompt (or text) from standard input ----
printf 'Lily and Tom' >"$tmp/prompt.txt"
"$vkagent" run -m "$stories" --device cpu -p "Lily and Tom" -n 16 --temp 0 >"$tmp/want" 2>/dev/null
"$vkagent" run -m "$stories" --device cpu -f - -n 16 --temp 0 <"$tmp/prompt.txt" >"$tmp/got" 2>"$tmp/err" \
  || fail "run -f -: $(cat "$tmp/err")"
cmp -s "$tmp/want" "$tmp/got" || fail "run -f - differs from -p: '$(cat "$tmp/got")'"
"$vkagent" tokenize -m "$vocab" --json -f - <"$tmp/prompt.txt" >"$tmp/got" 2>"$tmp/err" || fail "tokenize -f -: $(cat "$tmp/err")"
"$vkagent" tokenize -m "$vocab" --json "Lily and Tom" >"$tmp/want"
cmp -s "$tmp/want" "$tmp/got" || fail "tokenize -f - differs from TEXT: $(cat "$tmp/got")"

# ---- chat: /help, unknown commands, // escapes, --stop ----
chat=("$vkagent" chat -m "$stories" --device cpu -n 30 --temp 0)
printf '/help\n/frobnicate now\n/quit\n' | "${chat[@]}" >"$tmp/out" 2>"$tmp/err" || fail "chat /help: $(cat "$tmp/err")"
for needle in "/reset" "/system TEXT" "/quit" "/help" "unknown command '/frobnicate'"; do
  grep -qF -- "$needle" "$tmp/err" || fail "chat: stderr lacks '$needle': $(cat "$tmp/err")"
done
[[ ! -s $tmp/out ]] || fail "chat sent a command to the model: '$(cat "$tmp/out")'"
printf '//Hello\n' | "${chat[@]}" >"$tmp/out" 2>/dev/null
[[ -s $tmp/out ]] || fail "chat //Hello got no reply"
printf 'Hello\n' | "${chat[@]}" >"$tmp/full" 2>/dev/null
reply=$(head -c 200 "$tmp/full")
stop=$(python3 -c 'import sys; w = sys.argv[1].split(); print(w[len(w) // 2] if len(w) > 2 else "")' "$reply")
if [[ -z $stop ]]; then
  fail "chat reply too short to test --stop: '$reply'"
else
  printf 'Hello\n' | "${chat[@]}" --stop "$stop" >"$tmp/out" 2>/dev/null
  want=${reply%%"$stop"*}
  [[ $(cat "$tmp/out") == "$want" || $(cat "$tmp/out") == "${want%$'\n'}" ]] \
    || fail "chat --stop '$stop': '$(cat "$tmp/out")', expected '$want'"
fi

# ---- a vocab-only file says what it can be used for ----
printf 'local vk = require "vkagent"\nvk.load(arg[1], {device = "cpu"})\n' >"$tmp/load.lua"
expect_exit "run on a vocabulary" 1 "holds only a vocabulary" "$vkagent" run -m "$vocab" -p hi --device cpu
grep -qF "tokenize, template, info" "$tmp/err" || fail "run on a vocabulary: no hint of what it is for"
expect_exit "chat on a vocabulary" 1 "holds only a vocabulary" "$vkagent" chat -m "$vocab" --device cpu
expect_exit "logits on a vocabulary" 1 "holds only a vocabulary" "$vkagent" logits -m "$vocab" -p hi --device cpu
expect_exit "agent on a vocabulary" 1 "holds only a vocabulary" "$vkagent" agent "$tmp/load.lua" "$vocab"

# ---- \r progress only on a terminal ----
"$vkagent" synth -o "$tmp/s.gguf" --preset stories260K 2>"$tmp/err" >/dev/null || fail "synth: $(cat "$tmp/err")"
grep -q $'\r' "$tmp/err" && fail "synth wrote \\r progress into a file"
"$vkagent" run -m "$stories" --device cpu -n 2 -p x 2>"$tmp/err" >/dev/null
grep -q $'\r' "$tmp/err" && fail "run wrote \\r progress into a file"

# On a pseudo-terminal: synth's progress; chat's editing keys and history.
python3 - "$vkagent" "$stories" "$tmp" <<'PY' || fail "terminal checks (above)"
import os, pty, select, subprocess, sys, time
vkagent, stories, tmp = sys.argv[1:4]

def controlling_tty():  # in the child: the pty is its terminal, so Ctrl-C sends SIGINT
    import fcntl, termios
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)

def spawn(args):
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdin=slave, stdout=subprocess.DEVNULL, stderr=slave, close_fds=True,
                         start_new_session=True, preexec_fn=controlling_tty)
    os.close(slave)
    return p, master

def read_until(master, needle, seen, timeout=60):
    end = time.time() + timeout
    while needle not in seen[0] and time.time() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                seen[0] += os.read(master, 4096)
            except OSError:
                break
    return needle in seen[0]

ok = True
p, master = spawn([vkagent, "synth", "-o", tmp + "/tty.gguf", "--preset", "stories260K"])
seen = [b""]
read_until(master, b"wrote", seen)
p.wait(timeout=60)
if b"\r[" not in seen[0]:
    print("FAIL: synth shows no \\r progress on a terminal:", seen[0][:200]); ok = False

def chat(keys, seen):
    p, master = spawn([vkagent, "chat", "-m", stories, "--device", "cpu", "-n", "4", "--temp", "0"])
    for k in keys:
        if not read_until(master, b"> ", seen):
            print("FAIL: chat shows no prompt:", seen[0][-300:]); p.kill(); return False
        seen[0] = seen[0].replace(b"> ", b"", 1)
        os.write(master, k)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill(); print("FAIL: chat did not end"); return False
    if rc != 0:
        print("FAIL: chat exited with", rc, seen[0][-300:]); return False
    read_until(master, b"\0", seen, timeout=0.5)  # what is left
    os.close(master)
    return True

# typed, edited with the arrow keys (/hlp -> /help), recalled with up
seen = [b""]
ok &= chat([b"/hlp\x1b[D\x1b[De\r", b"\x1b[A\r", b"/quit\r"], seen)
if seen[0].count(b"this list") != 2:
    print("FAIL: /help edited and recalled should list the commands twice:", seen[0][-600:]); ok = False
hist = open(tmp + "/history", "rb").read() if os.path.exists(tmp + "/history") else b""
if b"/help" not in hist:
    print("FAIL: the history file lacks /help:", hist); ok = False
# a new chat recalls the saved history
seen = [b""]
ok &= chat([b"\x1b[A\x1b[A\r", b"/quit\r"], seen)
if b"this list" not in seen[0]:
    print("FAIL: a new chat does not recall the saved history:", seen[0][-600:]); ok = False
# Ctrl-C at the prompt quits (exit 0), the lines typed before it already saved
seen = [b""]
ok &= chat([b"Greetings\r", b"\x03"], seen)
if b"Greetings" not in open(tmp + "/history", "rb").read():
    print("FAIL: a line typed before Ctrl-C is not in the history"); ok = False
sys.exit(0 if ok else 1)
PY

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all CLI checks passed"
