/* fs.c — vkagent.fs: the few file-system calls plain Lua lacks and the
 * workspace-confined file tools need (realpath, lstat, mkdir, directory
 * listing). Each returns nil plus a message on failure, like io.open. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lvka.h"

static int fail(lua_State *L, const char *path) {
    int err = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    lua_pushinteger(L, err);
    return 3;
}

/* fs.realpath(path) -> the absolute path with links, "." and ".." resolved. */
static int l_realpath(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    char *real = realpath(path, NULL);
    if (!real) return fail(L, path);
    lua_pushstring(L, real);
    free(real);
    return 1;
}

static const char *kind_of(mode_t mode) {
    if (S_ISREG(mode)) return "file";
    if (S_ISDIR(mode)) return "directory";
    if (S_ISLNK(mode)) return "link";
    return "other";
}

/* fs.lstat(path) -> "file" | "directory" | "link" | "other", size; the
 * link itself, not what it points to. */
static int l_lstat(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0) return fail(L, path);
    lua_pushstring(L, kind_of(st.st_mode));
    lua_pushinteger(L, (lua_Integer)st.st_size);
    return 2;
}

/* fs.mkdir(path) -> true; an existing directory is not an error. */
static int l_mkdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (mkdir(path, 0777) != 0) {
        struct stat st;
        if (errno != EEXIST || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return fail(L, path);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Closes a directory left open by an error (out of memory) in fs.list. */
static int dir_gc(lua_State *L) {
    DIR **d = lua_touserdata(L, 1);
    if (*d) closedir(*d);
    *d = NULL;
    return 0;
}

/* fs.list(dir) -> sorted list of names (without "." and ".."). */
static int l_list(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_settop(L, 1);
    DIR **d = lua_newuserdatauv(L, sizeof *d, 0);
    *d = NULL;
    if (luaL_newmetatable(L, "vkagent.fs.dir")) {
        lua_pushcfunction(L, dir_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    *d = opendir(path);
    if (!*d) return fail(L, path);
    lua_newtable(L);   /* 3: the names, which keep the strings alive */
    lua_Integer n = 0;
    struct dirent *e;
    while ((e = readdir(*d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, 3, ++n);
    }
    closedir(*d);
    *d = NULL;
    const char **names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 3, i);
        names[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_pushstring(L, names[i - 1]);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

void lvka_open_fs(lua_State *L) {
    static const luaL_Reg fns[] = {
        {"realpath", l_realpath},
        {"lstat", l_lstat},
        {"mkdir", l_mkdir},
        {"list", l_list},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
}
