/* remote.c — vkagent.http, the HTTP client under vkagent.connect
 * (lua/vkagent/remote.lua): libcurl's multi interface, so that a response
 * (a server-sent event stream) can be read a piece at a time with a bounded
 * wait, which keeps agent:poll from blocking a game's frame for long. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lvka.h"

#define LVKA_HTTP_MT "vkagent.http_response"

/* One request in flight. Everything it owns is freed by its __gc/__close,
 * so a Lua error raised half-way leaks nothing. */
typedef struct http_response {
    CURL *easy;
    CURLM *multi;
    struct curl_slist *headers;
    char *buf;                 /* body bytes received and not yet read */
    size_t len, cap;
    bool done, failed_memory;
    CURLcode result;           /* the transfer's end, once done */
    char url[512];             /* for messages */
    char error[CURL_ERROR_SIZE];
} http_response;

static void response_free(http_response *r) {
    if (r->multi && r->easy) curl_multi_remove_handle(r->multi, r->easy);
    if (r->easy) curl_easy_cleanup(r->easy);
    if (r->multi) curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->headers);
    free(r->buf);
    r->easy = NULL, r->multi = NULL, r->headers = NULL, r->buf = NULL;
    r->len = r->cap = 0;
}

static int response_gc(lua_State *L) {
    response_free(luaL_checkudata(L, 1, LVKA_HTTP_MT));
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    http_response *r = user;
    size_t add = size * n;
    if (r->len + add + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + add + 1) cap *= 2;
        char *grown = realloc(r->buf, cap);
        if (!grown) {
            r->failed_memory = true;
            return 0;          /* libcurl ends the transfer with CURLE_WRITE_ERROR */
        }
        r->buf = grown, r->cap = cap;
    }
    memcpy(r->buf + r->len, data, add);
    r->len += add;
    return add;
}

static double opt_seconds(lua_State *L, int idx, const char *fn, const char *key, double dflt) {
    double v = dflt;
    lvka_opt_number(L, idx, fn, key, &v);
    if (v < 0) luaL_error(L, "%s: opts.%s must be >= 0 (0: no limit)", fn, key);
    return v;
}

static void add_header(lua_State *L, http_response *r, const char *line) {
    struct curl_slist *more = curl_slist_append(r->headers, line);
    if (!more) luaL_error(L, "vkagent.http: out of memory");
    r->headers = more;
}

static const char *const request_opts[] = {"url", "method", "body", "headers", "timeout", "connect_timeout", NULL};

/* Reads opts (at 1) and starts the transfer; the response userdata is left
 * on the stack. */
static http_response *start_request(lua_State *L, const char *fn) {
    lvka_check_table(L, 1, 1, fn, "opts");
    lvka_check_opts(L, 1, fn, request_opts);
    const char *url = NULL, *method = "GET", *body = NULL;
    lvka_opt_string(L, 1, fn, "url", &url);
    if (!url) luaL_error(L, "%s: opts.url is required", fn);
    lvka_opt_string(L, 1, fn, "method", &method);
    size_t body_len = 0;
    if (lvka_opt_push(L, 1, "body") == LUA_TSTRING) body = lua_tolstring(L, -1, &body_len);
    else if (!lua_isnil(L, -1)) luaL_error(L, "%s: opts.body must be a string", fn);
    lua_pop(L, 1);
    double timeout = opt_seconds(L, 1, fn, "timeout", 0), connect_timeout = opt_seconds(L, 1, fn, "connect_timeout", 10);

    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) luaL_error(L, "%s: libcurl failed to start", fn);
        curl_ready = true;
    }
    http_response *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, LVKA_HTTP_MT);
    snprintf(r->url, sizeof r->url, "%s", url);
    r->easy = curl_easy_init();
    r->multi = curl_multi_init();
    if (!r->easy || !r->multi) luaL_error(L, "%s: libcurl failed to start a request", fn);

    if (lvka_opt_push(L, 1, "headers") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "%s: opts.headers must map header names to strings", fn);
            lua_pushfstring(L, "%s: %s", lua_tostring(L, -2), lua_tostring(L, -1));
            add_header(L, r, lua_tostring(L, -1));
            lua_pop(L, 2);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: opts.headers must be a table", fn);
    }
    lua_pop(L, 1);
    /* no "Expect: 100-continue" round trip before a large body */
    add_header(L, r, "Expect:");

    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);   /* a library must not touch the host's signals */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (curl_multi_add_handle(r->multi, e) != CURLM_OK) luaL_error(L, "%s: libcurl failed to start a request", fn);
    return r;
}

/* Runs the transfer until body bytes are there, it ends, or `wait` seconds
 * pass (< 0: no limit). Raises on a transport error. */
static void pump(lua_State *L, http_response *r, double wait, const char *fn) {
    double waited = 0;
    while (!r->done && r->len == 0) {
        int running = 0;
        if (curl_multi_perform(r->multi, &running) != CURLM_OK) luaL_error(L, "%s: libcurl failed", fn);
        int left = 0;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(r->multi, &left)))
            if (msg->msg == CURLMSG_DONE) r->done = true, r->result = msg->data.result;
        if (r->done || r->len > 0 || (wait >= 0 && waited >= wait)) break;
        int step_ms = 50;
        if (wait >= 0 && (wait - waited) * 1000 < step_ms) step_ms = (int)((wait - waited) * 1000) + 1;
        curl_multi_poll(r->multi, NULL, 0, step_ms, NULL);
        waited += step_ms / 1000.0;
    }
    if (r->done && r->result != CURLE_OK) {
        if (r->failed_memory) luaL_error(L, "%s: out of memory reading the answer of %s", fn, r->url);
        const char *why = r->error[0] ? r->error : curl_easy_strerror(r->result);
        if (r->result == CURLE_OPERATION_TIMEDOUT) luaL_error(L, "%s: %s timed out: %s", fn, r->url, why);
        luaL_error(L, "%s: cannot reach %s: %s", fn, r->url, why);
    }
}

static long status_of(http_response *r) {
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static void push_content_type(lua_State *L, http_response *r) {
    char *type = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &type);
    if (type) lua_pushstring(L, type);
    else lua_pushnil(L);
}

/* vkagent.http.request{url, method, body, headers, timeout, connect_timeout}
 * -> status, body, content_type: the whole answer. */
static int l_request(lua_State *L) {
    http_response *r = start_request(L, "vkagent.http.request");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        pump(L, r, -1, "vkagent.http.request");
        if (r->len) {
            luaL_addlstring(&b, r->buf, r->len);
            r->len = 0;
        } else if (r->done) {
            break;
        }
    }
    luaL_pushresult(&b);
    lua_pushinteger(L, status_of(r));
    lua_insert(L, -2);
    push_content_type(L, r);
    response_free(r);
    return 3;
}

/* vkagent.http.open{...} -> response: read it with response:read(wait). */
static int l_open(lua_State *L) {
    start_request(L, "vkagent.http.open");
    return 1;
}

static http_response *check_response(lua_State *L, const char *fn) {
    http_response *r = luaL_checkudata(L, 1, LVKA_HTTP_MT);
    if (!r->easy) luaL_error(L, "%s: the response is closed", fn);
    return r;
}

/* response:read([wait]) -> the body bytes that arrived ("" when none came
 * within `wait` seconds; no limit when absent), or nil once it has ended. */
static int l_read(lua_State *L) {
    http_response *r = check_response(L, "response:read");
    double wait = luaL_optnumber(L, 2, -1);
    pump(L, r, wait, "response:read");
    if (r->len == 0 && r->done) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlstring(L, r->buf ? r->buf : "", r->len);
    r->len = 0;
    return 1;
}

/* response:status([wait]) -> the HTTP status (0 until the headers are in),
 * and the content type. Waits for the headers (or the end) when `wait` is
 * true; otherwise moves the transfer on without waiting. */
static int l_status(lua_State *L) {
    http_response *r = check_response(L, "response:status");
    if (!lua_toboolean(L, 2) && !r->done) pump(L, r, 0, "response:status");
    while (lua_toboolean(L, 2) && status_of(r) == 0 && !r->done) pump(L, r, 0.05, "response:status");
    lua_pushinteger(L, status_of(r));
    push_content_type(L, r);
    return 2;
}

static int l_close(lua_State *L) {
    response_free(luaL_checkudata(L, 1, LVKA_HTTP_MT));
    return 0;
}

void lvka_open_http(lua_State *L) {
    static const luaL_Reg methods[] = {{"read", l_read}, {"status", l_status}, {"close", l_close}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", response_gc}, {"__close", response_gc}, {NULL, NULL}};
    lvka_new_class(L, LVKA_HTTP_MT, methods, meta);
    lua_newtable(L);
    lua_pushcfunction(L, l_request);
    lua_setfield(L, -2, "request");
    lua_pushcfunction(L, l_open);
    lua_setfield(L, -2, "open");
}
