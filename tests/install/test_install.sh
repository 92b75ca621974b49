#!/bin/sh
# test_install.sh BUILD_DIR SOURCE_DIR SANITIZE MESON... — installs the build into a
# temporary directory (meson install --destdir) and uses it as a user would:
# builds examples/c/hello.c (vkagent.pc) and examples/c/embed.c
# (vkagent-lua.pc) out of tree with nothing but pkg-config, linked against
# the shared and then the static libraries, and runs them; loads the Lua
# module with Debian's lua5.4; runs the installed CLI. SANITIZE is the
# build's b_sanitize: the examples are then compiled with the same
# -fsanitize, and the uninstrumented lua5.4 gets the runtimes preloaded.
set -eu
build=$1 src=$2 sanitize=$3
shift 3
data=${VKAGENT_TEST_DATA:-$src/../shared}
model=$data/models/stories260K.gguf
[ -f "$model" ] || { echo "SKIP: $model not found (VKAGENT_TEST_DATA)"; exit 77; }
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config not found"; exit 77; }
cc=${CC:-cc}
export VKAGENT_DEVICE=cpu
san_flags="" lua_preload=""
if [ "$sanitize" != none ]; then
    san_flags=-fsanitize=$sanitize
    case $sanitize in *address*) lua_preload=$($cc -print-file-name=libasan.so) ;; esac
    case $sanitize in *undefined*) lua_preload="$lua_preload${lua_preload:+:}$($cc -print-file-name=libubsan.so)" ;; esac
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$@" install -C "$build" --no-rebuild --destdir "$tmp/dest" --quiet
pc=$(find "$tmp/dest" -name vkagent.pc)
[ -n "$pc" ] || fail "no vkagent.pc installed"
pcdir=$(dirname "$pc")
[ -f "$pcdir/vkagent-lua.pc" ] || fail "no vkagent-lua.pc installed"
# The files name the configured prefix; relocate them into the destdir (what
# a real install at that prefix needs no help for).
prefix=$(sed -n 's/^prefix=//p' "$pc")
root=$tmp/dest$prefix
sed -i "s|^prefix=.*|prefix=$root|" "$pcdir/vkagent.pc" "$pcdir/vkagent-lua.pc"
export PKG_CONFIG_PATH="$pcdir"
libdir=$(pkg-config --variable=libdir vkagent)

# ---- the installed tree
for f in "$libdir/libvkagent.a" "$libdir/libvkagent-lua.a" "$root/include/vkagent.h" \
         "$root/include/vkagent_lua.h" "$root/bin/vkagent" "$root/share/doc/vkagent/README.md" \
         "$root/share/doc/vkagent/docs/lua.md"; do
    [ -f "$f" ] || fail "$f not installed"
done
for lib in vkagent vkagent-lua; do
    soname=$(readelf -d "$libdir/lib$lib.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
    major=$(pkg-config --modversion vkagent | cut -d. -f1)
    [ "$soname" = "lib$lib.so.$major" ] || fail "lib$lib.so has SONAME '$soname', want lib$lib.so.$major"
    [ -f "$libdir/$soname" ] || fail "$libdir/$soname missing"
done
echo "ok: libraries, headers, pkg-config files, CLI and docs installed under $prefix"

# ---- out-of-tree builds: -lvkagent links the shared library; for the static
# one the -l options name the archives (docs/install.md's recipe, verbatim).
static_libs() {
    case $1 in
    vkagent) pkg-config --static --libs vkagent | sed 's/-lvkagent\b/-l:libvkagent.a/' ;;
    vkagent-lua) pkg-config --static --libs vkagent-lua | sed 's/-lvkagent-lua\b/-l:libvkagent-lua.a/; s/-lvkagent /-l:libvkagent.a /' ;;
    esac
}
needs() { readelf -d "$1" | grep -q "NEEDED.*\[$2"; }

# shellcheck disable=SC2046  # pkg-config's output is meant to be split
$cc $san_flags -o "$tmp/hello" "$src/examples/c/hello.c" $(pkg-config --cflags --libs vkagent)
# shellcheck disable=SC2046
$cc $san_flags -o "$tmp/hello-static" "$src/examples/c/hello.c" $(pkg-config --cflags vkagent) $(static_libs vkagent)
needs "$tmp/hello" libvkagent.so || fail "hello does not link libvkagent.so"
! needs "$tmp/hello-static" libvkagent || fail "hello-static still needs libvkagent.so"
dyn=$(LD_LIBRARY_PATH=$libdir "$tmp/hello" "$model" "Once upon a time") || fail "hello: $dyn"
sta=$("$tmp/hello-static" "$model" "Once upon a time") || fail "hello-static: $sta"
echo "$dyn" | grep -q '^\[24 tokens\]$' || fail "hello printed: $dyn"
[ "$dyn" = "$sta" ] || fail "shared and static hello differ: '$dyn' vs '$sta'"
echo "ok: hello.c built with pkg-config vkagent, shared and static, prints the same greedy text"

# shellcheck disable=SC2046
$cc $san_flags -o "$tmp/embed" "$src/examples/c/embed.c" $(pkg-config --cflags --libs vkagent-lua)
# shellcheck disable=SC2046
$cc $san_flags -o "$tmp/embed-static" "$src/examples/c/embed.c" $(pkg-config --cflags vkagent-lua) $(static_libs vkagent-lua)
needs "$tmp/embed" libvkagent-lua.so || fail "embed does not link libvkagent-lua.so"
! needs "$tmp/embed-static" libvkagent || fail "embed-static still needs a libvkagent*.so"
for exe in embed embed-static; do
    out=$(LD_LIBRARY_PATH=$libdir "$tmp/$exe" "$model" 2>&1) || fail "$exe: $out"
    echo "$out" | grep -q "^host: the agent ended with status" || fail "$exe printed: $out"
done
echo "ok: embed.c built with pkg-config vkagent-lua, shared and static, runs its agent"

# ---- Debian's lua5.4 with the installed module and library files
if command -v lua5.4 >/dev/null; then
    cmod=$(dirname "$(find "$root" -path '*/lua/5.4/vkagent.so')")
    lmod=$(dirname "$(dirname "$(find "$root" -path '*/lua/5.4/vkagent/agent.lua')")")
    # lua5.4 is not instrumented: only the module's errors count, not its leaks
    out=$(LD_PRELOAD=$lua_preload ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
          LUA_CPATH="$cmod/?.so" LUA_PATH="$lmod/?.lua" lua5.4 -e "
        local v = require 'vkagent'
        local Agent = require 'vkagent.agent'
        assert(type(Agent.new) == 'function')
        local m = v.load('$model', {device = 'cpu'})
        print(package.searchpath('vkagent', package.cpath), v.version(), #m:tokenize('Once upon a time') > 0)
    ") || fail "lua5.4: $out"
    echo "$out" | grep -q "^$cmod/vkagent.so	.*	true$" || fail "lua5.4 printed: $out"
    echo "ok: lua5.4 requires the installed vkagent.so and vkagent.agent"
else
    echo "# lua5.4 not found: the module check is left out"
fi

# ---- the installed CLI
"$root/bin/vkagent" --help >"$tmp/help" 2>&1 || fail "vkagent --help: $(cat "$tmp/help")"
out=$("$root/bin/vkagent" run -m "$model" -p "Once upon a time" -n 8 --device cpu 2>"$tmp/err") ||
    fail "vkagent run: $(cat "$tmp/err")"
[ -n "$out" ] || fail "vkagent run printed nothing"
echo "ok: the installed vkagent runs"
