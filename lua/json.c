/* json.c — vkagent.json: encode and decode backed by cJSON, with a null
 * sentinel, predictable array/object rules and errors that say where.
 *
 * Rules (docs/lua.md repeats them):
 * - A table is an array when its metatable says so (json.array, or it was
 *   decoded from a JSON array), or when it is non-empty and its keys are
 *   exactly 1..n. It is an object when its metatable says so (json.object),
 *   or when all its keys are strings. An empty table is an object ({}).
 *   Anything else (holes, mixed keys, other key types) is an error.
 * - Object members are written in sorted key order, except that the keys
 *   listed by json.object(t, order) come first, in that order.
 * - Integers are written exactly; floats as the shortest text that reads
 *   back the same; NaN and infinities are errors. Decoded numbers that are
 *   whole and within +-2^53 become Lua integers, others floats.
 * - Strings must be UTF-8; they are written with the JSON escapes that are
 *   required (quote, backslash, control characters), the rest as is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "lvka.h"

#define JSON_NULL_KEY "vkagent.json.null"
#define JSON_ARRAY_MT "vkagent.json.array"
#define JSON_OBJECT_MT "vkagent.json.object"
#define JSON_BOX_MT "vkagent.json.box"
#define MAX_DEPTH 512

/* A cJSON tree being built, owned by a userdata so a Lua error frees it. */
typedef struct json_box {
    cJSON *root;
} json_box;

static int box_gc(lua_State *L) {
    json_box *b = lua_touserdata(L, 1);
    cJSON_Delete(b->root);
    b->root = NULL;
    return 0;
}

/* Where in the value the encoder is, for messages: "$.tools[2].name". */
typedef struct json_path {
    char text[256];
    size_t len;
} json_path;

static size_t path_push_key(json_path *p, const char *key) {
    size_t was = p->len;
    int n = snprintf(p->text + p->len, sizeof p->text - p->len, ".%s", key);
    if (n > 0) p->len = p->len + (size_t)n < sizeof p->text ? p->len + (size_t)n : sizeof p->text - 1;
    return was;
}

static size_t path_push_index(json_path *p, lua_Integer i) {
    size_t was = p->len;
    int n = snprintf(p->text + p->len, sizeof p->text - p->len, "[%lld]", (long long)i);
    if (n > 0) p->len = p->len + (size_t)n < sizeof p->text ? p->len + (size_t)n : sizeof p->text - 1;
    return was;
}

static void path_pop(json_path *p, size_t was) {
    p->len = was;
    p->text[was] = '\0';
}

typedef struct encoder {
    lua_State *L;
    const char *fn;
    json_path path;
} encoder;

static int enc_error(encoder *e, const char *what) {
    return luaL_error(e->L, "%s: %s at %s", e->fn, what, e->path.text);
}

/* A JSON string literal of s, as a raw cJSON node (so NUL bytes survive as \u0000). */
static cJSON *string_node(encoder *e, const char *s, size_t len) {
    size_t bad = vka_utf8_valid_prefix(s, len);
    if (bad < len) {
        char msg[96];
        snprintf(msg, sizeof msg, "string is not valid UTF-8 (byte %zu)", bad + 1);
        enc_error(e, msg);
    }
    luaL_Buffer b;
    luaL_buffinit(e->L, &b);
    luaL_addchar(&b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': luaL_addstring(&b, "\\\""); break;
        case '\\': luaL_addstring(&b, "\\\\"); break;
        case '\b': luaL_addstring(&b, "\\b"); break;
        case '\f': luaL_addstring(&b, "\\f"); break;
        case '\n': luaL_addstring(&b, "\\n"); break;
        case '\r': luaL_addstring(&b, "\\r"); break;
        case '\t': luaL_addstring(&b, "\\t"); break;
        default:
            if (c < 0x20) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", c);
                luaL_addstring(&b, esc);
            } else {
                luaL_addchar(&b, (char)c);
            }
        }
    }
    luaL_addchar(&b, '"');
    luaL_pushresult(&b);
    cJSON *node = cJSON_CreateRaw(lua_tostring(e->L, -1));
    lua_pop(e->L, 1);
    return node;
}

static cJSON *number_node(encoder *e, int idx) {
    char text[64];
    if (lua_isinteger(e->L, idx)) {
        snprintf(text, sizeof text, "%lld", (long long)lua_tointeger(e->L, idx));
        return cJSON_CreateRaw(text);
    }
    double d = lua_tonumber(e->L, idx);
    if (!isfinite(d)) enc_error(e, isnan(d) ? "NaN cannot be written as JSON" : "infinity cannot be written as JSON");
    return cJSON_CreateNumber(d);
}

/* What the metatable of the table at idx declares: "array", "object" or NULL. */
static const char *declared_kind(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return NULL;
    const char *kind = NULL;
    if (lua_getfield(L, -1, "__jsontype") == LUA_TSTRING) kind = lua_tostring(L, -1);
    lua_pop(L, 2);   /* the string stays valid: the metatable holds it */
    return kind;
}

/* Classifies the table at idx; stores the array length. */
static bool is_array(encoder *e, int idx, lua_Integer *n_out) {
    lua_State *L = e->L;
    const char *kind = declared_kind(L, idx);
    lua_Integer n = 0, max = 0;
    bool has_string = false, has_int = false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
        if (lua_type(L, -1) == LUA_TSTRING) {
            has_string = true;
        } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            has_int = true;
            if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
        } else {
            luaL_tolstring(L, -1, NULL);
            char msg[160];
            snprintf(msg, sizeof msg, "a table key must be a string or a positive integer, not %s %s",
                     luaL_typename(L, -2), lua_tostring(L, -1));
            enc_error(e, msg);
        }
    }
    if (kind && strcmp(kind, "array") == 0) {
        if (has_string) enc_error(e, "a table marked as a JSON array has string keys");
        if (max != n) enc_error(e, "a table marked as a JSON array has holes");
        *n_out = n;
        return true;
    }
    if (kind && strcmp(kind, "object") == 0) {
        if (has_int) enc_error(e, "a table marked as a JSON object has integer keys");
        return false;
    }
    if (has_int && has_string) enc_error(e, "a table mixes integer and string keys (not an array, not an object)");
    if (has_int && max != n) {
        char msg[128];
        snprintf(msg, sizeof msg, "an array has holes (%lld entries, highest index %lld)", (long long)n,
                 (long long)max);
        enc_error(e, msg);
    }
    *n_out = n;
    return has_int;
}

static cJSON *encode(encoder *e, int idx, int depth);

static int cmp_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Object members in order: the declared order first, then sorted. */
static void encode_object(encoder *e, int idx, int depth, cJSON *obj) {
    lua_State *L = e->L;
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
    }
    const char **keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        size_t len;
        keys[k] = lua_tolstring(L, -1, &len);   /* the table holds the key */
        if (strlen(keys[k]) != len) enc_error(e, "a key contains a NUL byte");
        if (vka_utf8_valid_prefix(keys[k], len) < len) enc_error(e, "a key is not valid UTF-8");
        k++;
    }
    qsort(keys, n, sizeof *keys, cmp_keys);
    /* declared order: move those keys to the front */
    size_t front = 0;
    if (lua_getmetatable(L, idx)) {
        if (lua_getfield(L, -1, "__jsonorder") == LUA_TTABLE) {
            lua_Unsigned m = lua_rawlen(L, -1);
            for (lua_Unsigned i = 1; i <= m; i++) {
                if (lua_rawgeti(L, -1, (lua_Integer)i) == LUA_TSTRING) {
                    const char *want = lua_tostring(L, -1);
                    for (size_t j = front; j < n; j++)
                        if (strcmp(keys[j], want) == 0) {
                            const char *t = keys[j];
                            memmove(keys + front + 1, keys + front, (j - front) * sizeof *keys);
                            keys[front++] = t;
                            break;
                        }
                }
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 2);
    }
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, keys[i]);
        lua_rawget(L, idx);
        size_t was = path_push_key(&e->path, keys[i]);
        cJSON *item = encode(e, lua_gettop(L), depth + 1);
        path_pop(&e->path, was);
        lua_pop(L, 1);
        if (!item || !cJSON_AddItemToObject(obj, keys[i], item)) {
            cJSON_Delete(item);
            enc_error(e, "out of memory");
        }
    }
    lua_pop(L, 1);   /* keys */
}

static cJSON *encode_table(encoder *e, int idx, int depth) {
    lua_State *L = e->L;
    if (depth > MAX_DEPTH) enc_error(e, "tables nested deeper than 512 (a table that contains itself?)");
    luaL_checkstack(L, 8, "json.encode: nesting");
    lua_Integer n = 0;
    bool array = is_array(e, idx, &n);
    cJSON *node = array ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!node) enc_error(e, "out of memory");
    return node;
}

/* Fills the array or object node made by encode_table. */
static void fill_table(encoder *e, int idx, int depth, cJSON *node) {
    lua_State *L = e->L;
    if (cJSON_IsArray(node)) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            size_t was = path_push_index(&e->path, i);
            cJSON *item = encode(e, lua_gettop(L), depth + 1);
            path_pop(&e->path, was);
            lua_pop(L, 1);
            if (!item || !cJSON_AddItemToArray(node, item)) {
                cJSON_Delete(item);
                enc_error(e, "out of memory");
            }
        }
    } else {
        encode_object(e, idx, depth, node);
    }
}

static bool is_null(lua_State *L, int idx) {
    if (lua_type(L, idx) != LUA_TUSERDATA) return false;
    lua_getfield(L, LUA_REGISTRYINDEX, JSON_NULL_KEY);
    bool same = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return same;
}

/* A table's node is owned by a box on the stack while its children are
 * built, so an error on the way frees it; the caller attaches it after. */
static cJSON *encode(encoder *e, int idx, int depth) {
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return cJSON_CreateNull();
    case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER: return number_node(e, idx);
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        return string_node(e, s, len);
    }
    case LUA_TTABLE: {
        cJSON *node = encode_table(e, idx, depth);
        /* Own it in a box while its children are built. */
        json_box *box = lua_newuserdatauv(L, sizeof *box, 0);
        box->root = node;
        luaL_setmetatable(L, JSON_BOX_MT);
        fill_table(e, idx, depth, node);
        box->root = NULL;
        lua_pop(L, 1);
        return node;
    }
    case LUA_TUSERDATA:
        if (is_null(L, idx)) return cJSON_CreateNull();
        /* fall through */
    default: {
        char msg[64];
        snprintf(msg, sizeof msg, "a %s cannot be written as JSON", luaL_typename(L, idx));
        enc_error(e, msg);
        return NULL;
    }
    }
}

void lvka_json_encode_value(lua_State *L, int idx, bool pretty, const char *fn) {
    idx = lua_absindex(L, idx);
    encoder e = {.L = L, .fn = fn};
    strcpy(e.path.text, "$");
    e.path.len = 1;
    json_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->root = NULL;
    luaL_setmetatable(L, JSON_BOX_MT);
    box->root = encode(&e, idx, 0);
    if (!box->root) luaL_error(L, "%s: out of memory", fn);
    char *text = pretty ? cJSON_Print(box->root) : cJSON_PrintUnformatted(box->root);
    if (!text) luaL_error(L, "%s: out of memory", fn);
    lua_pushstring(L, text);
    cJSON_free(text);
    cJSON_Delete(box->root);
    box->root = NULL;
    lua_replace(L, -2);   /* the text replaces the box */
}

static int l_encode(lua_State *L) {
    luaL_checkany(L, 1);
    static const char *const names[] = {"indent", NULL};
    lvka_check_opts(L, 2, "json.encode", names);
    bool pretty = false;
    lvka_opt_boolean(L, 2, "json.encode", "indent", &pretty);
    lua_settop(L, 2);
    lvka_json_encode_value(L, 1, pretty, "json.encode");
    return 1;
}

/* ---------------------------------------------------------------- decode */

static void position_of(const char *text, size_t offset, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

static int decode_error(lua_State *L, const char *text, size_t len, size_t offset, const char *what) {
    int line, col;
    if (offset > len) offset = len;
    position_of(text, offset, &line, &col);
    char near[24];
    size_t n = len - offset < 16 ? len - offset : 16;
    memcpy(near, text + offset, n);
    near[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)near[i] < 0x20) near[i] = ' ';
    if (n == 0) return luaL_error(L, "json.decode: %s at line %d, column %d (byte %d): at the end of the text", what,
                                  line, col, (int)offset + 1);
    return luaL_error(L, "json.decode: %s at line %d, column %d (byte %d), near '%s'", what, line, col,
                      (int)offset + 1, near);
}

static void push_decoded(lua_State *L, const cJSON *j) {
    luaL_checkstack(L, 6, "json.decode: nesting");
    if (cJSON_IsNull(j)) {
        lua_getfield(L, LUA_REGISTRYINDEX, JSON_NULL_KEY);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) <= 9007199254740992.0) lua_pushinteger(L, (lua_Integer)d);
        else lua_pushnumber(L, d);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            push_decoded(L, c);
            lua_rawseti(L, -2, i++);
        }
        luaL_setmetatable(L, JSON_ARRAY_MT);
    } else {
        lua_createtable(L, 0, cJSON_GetArraySize(j));
        for (const cJSON *c = j->child; c; c = c->next) {
            push_decoded(L, c);
            lua_setfield(L, -2, c->string);
        }
    }
}

static int l_decode(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    size_t bad = vka_utf8_valid_prefix(text, len);
    if (bad < len) return decode_error(L, text, len, bad, "invalid UTF-8");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        return decode_error(L, text, len, at, at >= len ? "unexpected end of JSON" : "invalid JSON");
    }
    size_t at = (size_t)(end - text);
    while (at < len && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) at++;
    if (at < len) {
        cJSON_Delete(root);
        return decode_error(L, text, len, at, "text after the JSON value");
    }
    json_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->root = root;
    luaL_setmetatable(L, JSON_BOX_MT);
    push_decoded(L, root);
    cJSON_Delete(root);
    box->root = NULL;
    return 1;
}

/* ---------------------------------------------------------------- markers */

/* json.array([t]) -> t marked as an array (so {} encodes as []). */
static int l_array(lua_State *L) {
    if (lua_isnoneornil(L, 1)) lua_newtable(L);
    else luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_setmetatable(L, JSON_ARRAY_MT);
    return 1;
}

/* json.object([t [, order]]) -> t marked as an object; `order` lists keys
 * written first, in that order. */
static int l_object(lua_State *L) {
    lua_settop(L, 2);
    if (lua_isnil(L, 1)) {
        lua_newtable(L);
        lua_replace(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        luaL_setmetatable(L, JSON_OBJECT_MT);
        return 1;
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Unsigned n = lua_rawlen(L, 2);
    for (lua_Unsigned i = 1; i <= n; i++) {
        if (lua_rawgeti(L, 2, (lua_Integer)i) != LUA_TSTRING)
            return luaL_error(L, "json.object: order[%d] must be a string key, got %s", (int)i, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_createtable(L, 0, 3);
    lua_pushliteral(L, "object");
    lua_setfield(L, -2, "__jsontype");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "__jsonorder");
    lua_pushliteral(L, JSON_OBJECT_MT);
    lua_setfield(L, -2, "__name");
    lua_setmetatable(L, 1);
    lua_settop(L, 1);
    return 1;
}

/* json.kind(v) -> "array" | "object" | nil: what a table was marked as. */
static int l_kind(lua_State *L) {
    if (!lua_istable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    const char *kind = declared_kind(L, 1);
    if (kind) lua_pushstring(L, kind);
    else lua_pushnil(L);
    return 1;
}

static int null_tostring(lua_State *L) {
    lua_pushliteral(L, "null");
    return 1;
}

static void new_kind_mt(lua_State *L, const char *name, const char *kind) {
    if (luaL_newmetatable(L, name)) {
        lua_pushstring(L, kind);
        lua_setfield(L, -2, "__jsontype");
    }
    lua_pop(L, 1);
}

void lvka_open_json(lua_State *L) {
    if (luaL_newmetatable(L, JSON_BOX_MT)) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    new_kind_mt(L, JSON_ARRAY_MT, "array");
    new_kind_mt(L, JSON_OBJECT_MT, "object");
    if (lua_getfield(L, LUA_REGISTRYINDEX, JSON_NULL_KEY) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_newuserdatauv(L, 0, 0);
        lua_createtable(L, 0, 2);
        lua_pushcfunction(L, null_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, JSON_NULL_KEY);
        lua_setfield(L, -2, "__name");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, JSON_NULL_KEY);
    }
    static const luaL_Reg fns[] = {
        {"encode", l_encode},
        {"decode", l_decode},
        {"array", l_array},
        {"object", l_object},
        {"kind", l_kind},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_insert(L, -2);
    lua_setfield(L, -2, "null");
}
