#!/bin/sh
# check_deb.sh PACKAGE.deb — the package scripts/package built holds the
# installed tree at prefix /usr where Debian's tools look (libraries with
# their SONAME link, headers, pkg-config files naming /usr, the CLI, the Lua
# module and library where stock lua5.4 finds them, the docs), nothing
# outside /usr, and the dependencies a fresh Debian 12 needs.
set -eu
deb=$1
fail() { echo "FAIL: $*"; exit 1; }
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
lib=./usr/lib/$multiarch
for path in ./usr/bin/vkagent ./usr/include/vkagent.h ./usr/include/vkagent_lua.h \
            "$lib/libvkagent.so" "$lib/libvkagent.so.0" "$lib/libvkagent.a" \
            "$lib/libvkagent-lua.so" "$lib/libvkagent-lua.so.0" "$lib/libvkagent-lua.a" \
            "$lib/pkgconfig/vkagent.pc" "$lib/pkgconfig/vkagent-lua.pc" \
            "$lib/lua/5.4/vkagent.so" ./usr/share/lua/5.4/vkagent/agent.lua \
            ./usr/share/doc/vkagent/README.md ./usr/share/doc/vkagent/docs/lua.md \
            ./usr/share/doc/vkagent/copyright; do
    echo "$contents" | grep -qx "$path" || fail "$deb lacks $path"
done
outside=$(echo "$contents" | grep -v '^\./usr/' | grep -vx '\./' | grep -vx '\./usr/' || true)
[ -z "$outside" ] || fail "$deb installs outside /usr: $outside"
! echo "$contents" | grep -q '^\./usr/local/' || fail "$deb installs into /usr/local"

depends=$(dpkg-deb --field "$deb" Depends)
for dep in libvulkan1 libcjson1 liblua5.4-0; do
    echo "$depends" | grep -qw "$dep" || fail "Depends lacks $dep: $depends"
done
dpkg-deb --field "$deb" Recommends | grep -qw mesa-vulkan-drivers || fail "Recommends lacks mesa-vulkan-drivers"
pc=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO "$lib/pkgconfig/vkagent.pc")
echo "$pc" | grep -qx 'prefix=/usr' || fail "vkagent.pc does not name prefix /usr: $pc"
echo "ok: $deb ($(echo "$contents" | grep -vc '/$') files under /usr, Depends: $depends)"
