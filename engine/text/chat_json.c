/* chat_json.c — the JSON side of chat templates: a `tojson` that writes what
 * the templates' filter writes, and parsing of OpenAI "messages" arrays. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/chat.h"
#include "base/status.h"

/* ---------------------------------------------------------------- buffer */

void vka_chat_buf_append(vka_chat_buf *buf, const char *text, size_t len) {
    if (buf->oom) return;
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < buf->len + len + 1) cap *= 2;
        char *data = realloc(buf->data, cap);
        if (!data) {
            buf->oom = true;
            return;
        }
        buf->data = data;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, text, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void vka_chat_buf_puts(vka_chat_buf *buf, const char *text) {
    vka_chat_buf_append(buf, text, strlen(text));
}

/* ---------------------------------------------------------------- tojson */

void vka_chat_tojson_string(vka_chat_buf *buf, const char *text, size_t len) {
    vka_chat_buf_puts(buf, "\"");
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof hex, "\\u%04x", c);
                esc = hex;
            }
        }
        if (!esc) continue;
        vka_chat_buf_append(buf, text + run, i - run);
        vka_chat_buf_puts(buf, esc);
        run = i + 1;
    }
    vka_chat_buf_append(buf, text + run, len - run);
    vka_chat_buf_puts(buf, "\"");
}

/* Number formatting of JavaScript's Number.prototype.toString (which
 * JSON.stringify uses, and so @huggingface/jinja's tojson): the shortest
 * digits that read back to the same double, placed by the exponent rules of
 * ECMA-262 Number::toString. Integers come out without a fraction. */
void vka_chat_js_number(vka_chat_buf *buf, double v) {
    if (!isfinite(v)) { /* JSON has no NaN/Infinity; JSON.stringify writes null */
        vka_chat_buf_puts(buf, "null");
        return;
    }
    if (v == 0) { /* also -0, which JavaScript prints as 0 */
        vka_chat_buf_puts(buf, "0");
        return;
    }
    char sci[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v) break;
    }
    /* sci is "[-]d[.ddd]e[+-]xx": split into digits and exponent. */
    const char *p = sci;
    bool negative = *p == '-';
    if (negative) p++;
    char digits[24];
    int k = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0') k--;
    digits[k] = '\0';
    int n = atoi(p + 1) + 1; /* v = 0.digits * 10^n */

    char out[64];
    size_t o = 0;
    if (negative) out[o++] = '-';
    if (k <= n && n <= 21) {
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
        for (int i = k; i < n; i++) out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out + o, digits, (size_t)n);
        o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, digits + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++) out[o++] = '0';
        memcpy(out + o, digits, (size_t)k);
        o += (size_t)k;
    } else {
        out[o++] = digits[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    vka_chat_buf_append(buf, out, o);
}

static void tojson_newline(vka_chat_buf *buf, int indent, int depth) {
    vka_chat_buf_puts(buf, "\n");
    for (int i = 0; i < indent * depth; i++) vka_chat_buf_puts(buf, " ");
}

static void tojson_at(vka_chat_buf *buf, const cJSON *item, int indent, int depth) {
    if (cJSON_IsString(item)) {
        vka_chat_tojson_string(buf, item->valuestring, strlen(item->valuestring));
    } else if (cJSON_IsNumber(item)) {
        vka_chat_js_number(buf, item->valuedouble);
    } else if (cJSON_IsTrue(item)) {
        vka_chat_buf_puts(buf, "true");
    } else if (cJSON_IsFalse(item)) {
        vka_chat_buf_puts(buf, "false");
    } else if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
        bool object = cJSON_IsObject(item);
        vka_chat_buf_puts(buf, object ? "{" : "[");
        const cJSON *child = item->child;
        for (const cJSON *c = child; c; c = c->next) {
            if (c != child) vka_chat_buf_puts(buf, indent > 0 ? "," : ", ");
            if (indent > 0) tojson_newline(buf, indent, depth + 1);
            if (object) {
                vka_chat_tojson_string(buf, c->string, strlen(c->string));
                vka_chat_buf_puts(buf, ": ");
            }
            tojson_at(buf, c, indent, depth + 1);
        }
        if (indent > 0 && child) tojson_newline(buf, indent, depth);
        vka_chat_buf_puts(buf, object ? "}" : "]");
    } else {
        vka_chat_buf_puts(buf, "null");
    }
}

void vka_chat_tojson(vka_chat_buf *buf, const void *item, int indent) {
    tojson_at(buf, (const cJSON *)item, indent, 0);
}

/* ---------------------------------------------------------------- messages */

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void vka_chat_messages_free(vka_chat_message *msgs, size_t n) {
    if (!msgs) return;
    for (size_t i = 0; i < n; i++) {
        free((void *)msgs[i].role);
        free((void *)msgs[i].content);
        free((void *)msgs[i].tool_calls_json);
        free((void *)msgs[i].name);
        free((void *)msgs[i].tool_call_id);
        free((void *)msgs[i].reasoning_content);
    }
    free(msgs);
}

/* OpenAI content given as parts: only text parts, joined as they are. */
static vka_status content_from_parts(const cJSON *parts, size_t index, char **out) {
    vka_chat_buf buf = {0};
    vka_chat_buf_puts(&buf, "");
    size_t p = 0;
    for (const cJSON *part = parts->child; part; part = part->next, p++) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        vka_status st = VKA_OK;
        if (!cJSON_IsObject(part) || !cJSON_IsString(type))
            st = vka_fail(VKA_ERR_FORMAT, "messages[%zu].content[%zu]: expected an object with a string \"type\"",
                          index, p);
        else if (strcmp(type->valuestring, "text") != 0)
            st = vka_fail(VKA_ERR_UNSUPPORTED,
                          "messages[%zu].content[%zu]: content parts of type \"%s\" are not supported; "
                          "HINT: only {\"type\": \"text\", \"text\": ...} parts can be rendered",
                          index, p, type->valuestring);
        else if (!cJSON_IsString(text))
            st = vka_fail(VKA_ERR_FORMAT, "messages[%zu].content[%zu]: a text part needs a string \"text\"", index, p);
        if (st != VKA_OK) {
            free(buf.data);
            return st;
        }
        vka_chat_buf_puts(&buf, text->valuestring);
    }
    if (buf.oom) {
        free(buf.data);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "messages[%zu].content: out of memory", index);
    }
    *out = buf.data;
    return VKA_OK;
}

static vka_status optional_string(const cJSON *obj, const char *key, size_t index, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return VKA_OK;
    if (!cJSON_IsString(v))
        return vka_fail(VKA_ERR_FORMAT, "messages[%zu].%s: expected a string", index, key);
    *out = dup_string(v->valuestring);
    if (!*out) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "messages[%zu].%s: out of memory", index, key);
    return VKA_OK;
}

static vka_status message_from_json(const cJSON *obj, size_t index, vka_chat_message *m) {
    if (!cJSON_IsObject(obj)) return vka_fail(VKA_ERR_FORMAT, "messages[%zu]: expected an object", index);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(obj, "role");
    if (!role) return vka_fail(VKA_ERR_FORMAT, "messages[%zu]: \"role\" is missing", index);
    if (!cJSON_IsString(role)) return vka_fail(VKA_ERR_FORMAT, "messages[%zu].role: expected a string", index);
    if (!(m->role = dup_string(role->valuestring)))
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "messages[%zu]: out of memory", index);
    bool assistant = strcmp(role->valuestring, "assistant") == 0;

    const cJSON *content = cJSON_GetObjectItemCaseSensitive(obj, "content");
    if (cJSON_IsString(content)) {
        if (!(m->content = dup_string(content->valuestring)))
            return vka_fail(VKA_ERR_OUT_OF_MEMORY, "messages[%zu]: out of memory", index);
    } else if (cJSON_IsArray(content)) {
        char *joined = NULL;
        VKA_TRY(content_from_parts(content, index, &joined));
        m->content = joined;
    } else if (!content || cJSON_IsNull(content)) {
        if (!assistant)
            return vka_fail(VKA_ERR_FORMAT, "messages[%zu] (role \"%s\"): \"content\" is missing or null; "
                            "only assistant messages may omit it", index, role->valuestring);
    } else {
        return vka_fail(VKA_ERR_FORMAT, "messages[%zu].content: expected a string or an array of text parts",
                        index);
    }

    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(obj, "tool_calls");
    if (calls && !cJSON_IsNull(calls)) {
        if (!cJSON_IsArray(calls))
            return vka_fail(VKA_ERR_FORMAT, "messages[%zu].tool_calls: expected an array", index);
        if (cJSON_GetArraySize(calls) > 0 && !(m->tool_calls_json = cJSON_PrintUnformatted(calls)))
            return vka_fail(VKA_ERR_OUT_OF_MEMORY, "messages[%zu]: out of memory", index);
    }
    VKA_TRY(optional_string(obj, "name", index, &m->name));
    VKA_TRY(optional_string(obj, "tool_call_id", index, &m->tool_call_id));
    VKA_TRY(optional_string(obj, "reasoning_content", index, &m->reasoning_content));
    return VKA_OK;
}

vka_status vka_chat_messages_from_json(const char *json, vka_chat_message **msgs, size_t *n) {
    if (!json || !msgs || !n) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_chat_messages_from_json: NULL argument");
    *msgs = NULL;
    *n = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, true);
    if (!root) {
        size_t offset = end && end >= json ? (size_t)(end - json) : 0;
        size_t line = 1, column = 1;
        for (size_t i = 0; i < offset && json[i]; i++) {
            column = json[i] == '\n' ? 1 : column + 1;
            line += json[i] == '\n';
        }
        return vka_fail(VKA_ERR_FORMAT, "messages: invalid JSON at offset %zu (line %zu, column %zu)", offset, line,
                        column);
    }
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return vka_fail(VKA_ERR_FORMAT, "messages: expected a JSON array of message objects");
    }
    size_t count = (size_t)cJSON_GetArraySize(root);
    vka_chat_message *out = calloc(count ? count : 1, sizeof *out);
    if (!out) {
        cJSON_Delete(root);
        return vka_fail(VKA_ERR_OUT_OF_MEMORY, "messages: out of memory");
    }
    size_t i = 0;
    vka_status st = VKA_OK;
    for (const cJSON *item = root->child; item && st == VKA_OK; item = item->next, i++)
        st = message_from_json(item, i, &out[i]);
    cJSON_Delete(root);
    if (st != VKA_OK) {
        vka_chat_messages_free(out, count);
        return st;
    }
    *msgs = out;
    *n = count;
    return VKA_OK;
}
