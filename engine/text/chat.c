/* chat.c — chat templates without a Jinja interpreter: the family of a
 * model's tokenizer.chat_template is recognised by distinctive substrings,
 * and each family's layout is written here in C.
 *
 * The families and their rules ("trim" is whitespace stripped at both ends;
 * BOS/EOS are the texts of those tokens; "gen" is the generation prompt):
 *
 * chatml   every turn "<|im_start|>" role "\n" content "<|im_end|>\n"; gen
 *          "<|im_start|>assistant\n". A system message not first is an
 *          ordinary turn. A template that hard-codes a default system
 *          message (Qwen2, Qwen2.5) has it used when messages[0] is not
 *          system. Tools (Qwen2.5/Qwen3, Hermes): one system turn holds the
 *          system text (+ "\n\n"), then "# Tools ... <tools>", each tool as
 *          "\n" tojson, and the "</tools> ... <tool_call>" instructions.
 *          Assistant tool calls follow the content, each
 *          "<tool_call>\n{\"name\": \"N\", \"arguments\": A}\n</tool_call>",
 *          separated by "\n" (and from non-empty content by "\n"); A is a
 *          string argument as it is, else tojson. Consecutive tool results
 *          share one user turn, each "\n<tool_response>\nR\n</tool_response>".
 * qwen3    chatml, plus: an assistant turn after the last real user query
 *          (a user message not wrapped in <tool_response>) carries
 *          "<think>\nR\n</think>\n\n" when it is the last message or has
 *          reasoning R; reasoning comes from reasoning_content, else is cut
 *          out of content around "</think>". Earlier assistant turns lose
 *          their thinking. enable_thinking=false appends
 *          "<think>\n\n</think>\n\n" to gen.
 * llama3   BOS, then "<|start_header_id|>" role "<|end_header_id|>\n\n"
 *          trim(content) "<|eot_id|>" per message; gen is the assistant
 *          header. The Llama-3.0 template has no tool section: tools and
 *          tool calls are ignored as it ignores them, and a tool result is a
 *          "tool" turn. A template that never mentions add_generation_prompt
 *          (the base model's) always ends with the assistant header.
 * llama3.1 BOS, a system turn "Cutting Knowledge Date: December 2023\n
 *          Today Date: 26 Jul 2024\n\n" + trim(system) ("Environment:
 *          ipython\n" first when tools are given); with tools, the first
 *          remaining message becomes a user turn listing each tool as
 *          tojson(indent=4) + "\n\n"; one tool call per assistant turn as
 *          {"name": "N", "parameters": A}; tool results as "ipython" turns
 *          whose content is written by tojson (a JSON string literal, as
 *          the template does with a string).
 * llama2   system folded into the first user turn as "<<SYS>>\nS\n<</SYS>>\n\n";
 *          user: BOS "[INST] " trim(c) " [/INST]"; assistant: " " trim(c) " " EOS.
 * mistral  BOS; user: "[INST] " c " [/INST]" (system "S\n\n" before the
 *          first user content); assistant: c EOS.
 * mistral-v3 BOS; user: "[INST] " c "[/INST]" (system "S\n\n" before the
 *          content of a user message that is the last message);
 *          assistant: " " trim(c) EOS.
 * zephyr   "<|" role "|>\n" c EOS "\n"; gen "<|assistant|>\n".
 * gemma    BOS; "<start_of_turn>" role "\n" trim(c) "<end_of_turn>\n" with
 *          assistant called "model", system "S\n\n" before the first user
 *          content; gen "<start_of_turn>model\n".
 * phi3     "<|" role "|>\n" c "<|end|>\n"; gen "<|assistant|>\n", else EOS.
 *
 * llama2, mistral, mistral-v3 and gemma need roles alternating
 * user/assistant after an optional first system message (their templates
 * raise otherwise). llama2 and mistral* have no generation prompt: the
 * prompt ends with [/INST]. Families without a tool convention (llama2,
 * mistral, mistral-v3, zephyr, gemma, phi3) ignore a tools list, as their
 * templates do, and refuse tool results and tool calls, which their
 * templates drop or reject. A missing or unrecognised template renders as
 * chatml, the most widely used layout. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "text/chat.h"
#include "base/status.h"

/* ---------------------------------------------------------------- text slices */

typedef struct slice {
    const char *p;
    size_t n;
} slice;

static slice sl(const char *s) { return (slice){s ? s : "", s ? strlen(s) : 0}; }

static bool sl_starts(slice s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

static bool sl_ends(slice s, const char *suffix) {
    size_t n = strlen(suffix);
    return s.n >= n && memcmp(s.p + s.n - n, suffix, n) == 0;
}

/* Offset of the first (or last) occurrence of `needle`, or SIZE_MAX. */
static size_t sl_find(slice s, const char *needle, bool last) {
    size_t n = strlen(needle);
    if (n > s.n) return SIZE_MAX;
    size_t found = SIZE_MAX;
    for (size_t i = 0; i + n <= s.n; i++) {
        if (memcmp(s.p + i, needle, n) != 0) continue;
        found = i;
        if (!last) break;
    }
    return found;
}

/* Python's str.lstrip/rstrip with one character, as the Qwen3 template's
 * .lstrip('\n') and friends ask. */
static slice sl_strip_char(slice s, char c, bool left, bool right) {
    while (left && s.n > 0 && s.p[0] == c) s.p++, s.n--;
    while (right && s.n > 0 && s.p[s.n - 1] == c) s.n--;
    return s;
}

/* Code points Jinja's trim/strip() removes: ECMAScript's WhiteSpace and
 * LineTerminator (what @huggingface/jinja's trim() removes), which agree with
 * Python's str.strip() on everything but U+FEFF, U+001C..U+001F and U+0085. */
static bool is_trim_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000 || cp == 0xfeff;
}

/* Decodes the UTF-8 sequence at p (at most n bytes); returns its length, 0 if malformed. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    if (p[0] < 0x80) return *cp = p[0], 1;
    size_t len = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    uint32_t v = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    *cp = v;
    return len;
}

static slice sl_ltrim(slice s) {
    const unsigned char *u = (const unsigned char *)s.p;
    uint32_t cp;
    size_t len;
    while ((len = utf8_decode(u, s.n, &cp)) > 0 && is_trim_space(cp)) u += len, s.n -= len;
    s.p = (const char *)u;
    return s;
}

static slice sl_rtrim(slice s) {
    const unsigned char *u = (const unsigned char *)s.p;
    uint32_t cp;
    while (s.n > 0) {
        size_t start = s.n - 1; /* back to the lead byte of the last character */
        while (start > 0 && (u[start] & 0xc0) == 0x80 && s.n - start < 4) start--;
        size_t len = utf8_decode(u + start, s.n - start, &cp);
        if (len != s.n - start || !is_trim_space(cp)) break;
        s.n = start;
    }
    return s;
}

static slice sl_trim(slice s) { return sl_rtrim(sl_ltrim(s)); }

static void put(vka_chat_buf *b, slice s) { vka_chat_buf_append(b, s.p, s.n); }
static void puts_(vka_chat_buf *b, const char *s) { vka_chat_buf_puts(b, s); }

/* ---------------------------------------------------------------- families and detection */

static const char *const family_names[VKA_CHAT_FAMILY_COUNT] = {
    [VKA_CHAT_CHATML] = "chatml",   [VKA_CHAT_QWEN3] = "qwen3",   [VKA_CHAT_LLAMA3] = "llama3",
    [VKA_CHAT_LLAMA31] = "llama3.1", [VKA_CHAT_LLAMA2] = "llama2", [VKA_CHAT_MISTRAL] = "mistral",
    [VKA_CHAT_MISTRAL_V3] = "mistral-v3", [VKA_CHAT_ZEPHYR] = "zephyr", [VKA_CHAT_GEMMA] = "gemma",
    [VKA_CHAT_PHI3] = "phi3",
};

const char *vka_chat_family_name(vka_chat_family family) {
    return (unsigned)family < VKA_CHAT_FAMILY_COUNT ? family_names[family] : "unknown";
}

vka_status vka_chat_family_from_name(const char *name, vka_chat_family *family) {
    if (!name || !family) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_chat_family_from_name: NULL argument");
    for (int f = 0; f < VKA_CHAT_FAMILY_COUNT; f++) {
        if (strcasecmp(name, family_names[f]) == 0) {
            *family = (vka_chat_family)f;
            return VKA_OK;
        }
    }
    return vka_fail(VKA_ERR_NOT_FOUND,
                    "unknown chat template family \"%s\"; HINT: use one of chatml, qwen3, llama3, llama3.1, "
                    "llama2, mistral, mistral-v3, zephyr, gemma, phi3",
                    name);
}

static bool has(const char *text, const char *needle) { return strstr(text, needle) != NULL; }

/* Order matters: a template is put in the first family whose markers it has. */
vka_chat_family vka_chat_detect(const char *t, bool *recognised) {
    vka_chat_family f = VKA_CHAT_CHATML;
    bool known = true;
    if (!t || !*t)
        known = false;
    else if (has(t, "<|im_start|>"))
        f = has(t, "</think>") ? VKA_CHAT_QWEN3 : VKA_CHAT_CHATML;
    else if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
        f = has(t, "Cutting Knowledge Date") || has(t, "<|python_tag|>") ? VKA_CHAT_LLAMA31 : VKA_CHAT_LLAMA3;
    else if (has(t, "<start_of_turn>"))
        f = VKA_CHAT_GEMMA;
    else if (has(t, "<|user|>") && has(t, "<|end|>"))
        f = VKA_CHAT_PHI3;
    else if (has(t, "<|user|>"))
        f = VKA_CHAT_ZEPHYR;
    else if (has(t, "[INST]") && has(t, "<<SYS>>"))
        f = VKA_CHAT_LLAMA2;
    else if (has(t, "[INST]"))
        f = has(t, "[AVAILABLE_TOOLS]") ? VKA_CHAT_MISTRAL_V3 : VKA_CHAT_MISTRAL;
    else
        known = false;
    if (recognised) *recognised = known;
    return f;
}

/* A system message hard-coded in a ChatML template, as Qwen2 and Qwen2.5
 * write it: '<|im_start|>system\nTEXT<|im_end|>' inside a string literal.
 * *out is a malloc'ed copy of TEXT (escaped newlines decoded), or NULL. */
static vka_status chatml_default_system(const char *t, char **out) {
    *out = NULL;
    static const char marker[] = "<|im_start|>system";
    for (const char *at = t ? strstr(t, marker) : NULL; at; at = strstr(at + 1, marker)) {
        const char *p = at + sizeof marker - 1;
        if (p[0] == '\\' && p[1] == 'n')
            p += 2;
        else if (p[0] == '\n')
            p += 1;
        else
            continue;
        const char *end = strstr(p, "<|im_end|>");
        if (!end || end == p) continue;
        size_t n = (size_t)(end - p);
        if (memchr(p, '\'', n) || memchr(p, '"', n) || memchr(p, '{', n) || memchr(p, '}', n) ||
            memchr(p, '+', n))
            continue; /* an expression, not a literal */
        char *text = malloc(n + 1);
        if (!text) return vka_fail(VKA_ERR_OUT_OF_MEMORY, "chat template: out of memory");
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '\\' && i + 1 < n && p[i + 1] == 'n') {
                text[o++] = '\n';
                i++;
            } else {
                text[o++] = p[i];
            }
        }
        text[o] = '\0';
        *out = text;
        return VKA_OK;
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- rendering state */

typedef struct render {
    const vka_chat_render_params *params;
    const vka_chat_message *msgs;
    size_t n;
    cJSON *tools;           /* the tools array, or NULL when none was given */
    const char *bos, *eos;
    char *default_system;   /* chatml: the template's own system message, or NULL */
    bool gen_always;        /* llama3: the template appends the assistant header unconditionally */
    vka_chat_buf out;
} render;

static slice content_of(const vka_chat_message *m) { return sl(m->content); }
static bool role_is(const vka_chat_message *m, const char *role) { return strcmp(m->role, role) == 0; }
static bool is_tool_result(const vka_chat_message *m) { return role_is(m, "tool") || role_is(m, "ipython"); }

/* Parses a message's tool calls; *calls is NULL when it has none. */
static vka_status tool_calls_of(const vka_chat_message *m, size_t index, cJSON **calls) {
    *calls = NULL;
    if (!m->tool_calls_json) return VKA_OK;
    cJSON *arr = cJSON_Parse(m->tool_calls_json);
    if (!arr || !cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return vka_fail(VKA_ERR_FORMAT, "messages[%zu].tool_calls: expected a JSON array of tool calls", index);
    }
    *calls = arr;
    return VKA_OK;
}

/* The name and arguments of one call, {"function": {...}} or flat. */
static vka_status tool_call_fields(const cJSON *call, size_t index, size_t j, const char **name, const cJSON **args) {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
    if (cJSON_IsObject(fn)) call = fn;
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(call, "name");
    *args = cJSON_GetObjectItemCaseSensitive(call, "arguments");
    if (!cJSON_IsString(nm))
        return vka_fail(VKA_ERR_FORMAT, "messages[%zu].tool_calls[%zu]: \"function.name\" must be a string", index, j);
    if (!*args)
        return vka_fail(VKA_ERR_FORMAT, "messages[%zu].tool_calls[%zu]: \"function.arguments\" is missing", index, j);
    *name = nm->valuestring;
    return VKA_OK;
}

static vka_status refuse_tool_use(const render *r, const char *family) {
    for (size_t i = 0; i < r->n; i++) {
        const vka_chat_message *m = &r->msgs[i];
        if (is_tool_result(m) || m->tool_calls_json)
            return vka_fail(VKA_ERR_UNSUPPORTED,
                            "messages[%zu]: the %s chat format has no convention for %s; HINT: pass tool results "
                            "as user messages, or override the family with one that has tools (chatml, qwen3, "
                            "llama3.1)",
                            i, family, m->tool_calls_json ? "tool calls" : "tool results");
    }
    return VKA_OK;
}

/* Roles user, assistant, user, ... from `start` on, as the templates demand. */
static vka_status check_alternation(const render *r, size_t start, const char *family) {
    for (size_t i = start; i < r->n; i++) {
        const char *want = (i - start) % 2 == 0 ? "user" : "assistant";
        if (!role_is(&r->msgs[i], want))
            return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                            "messages[%zu] has role \"%s\" where \"%s\" is expected: the %s chat format needs "
                            "roles alternating user/assistant after an optional first system message",
                            i, r->msgs[i].role, want, family);
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- chatml and qwen3 */

static void chatml_tools_system(render *r, bool first_is_system) {
    vka_chat_buf *b = &r->out;
    puts_(b, "<|im_start|>system\n");
    if (first_is_system) {
        put(b, content_of(&r->msgs[0]));
        puts_(b, "\n\n");
    } else if (r->default_system) {
        puts_(b, r->default_system);
        puts_(b, "\n\n");
    }
    puts_(b, "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
             "You are provided with function signatures within <tools></tools> XML tags:\n<tools>");
    for (const cJSON *tool = r->tools->child; tool; tool = tool->next) {
        puts_(b, "\n");
        vka_chat_tojson(b, tool, 0);
    }
    puts_(b, "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
             "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
             "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n");
}

/* Index of the last user message that is a real query, not tool output
 * wrapped as a user message; the last index when there is none. */
static size_t qwen3_last_query(const render *r) {
    for (size_t i = r->n; i-- > 0;) {
        const vka_chat_message *m = &r->msgs[i];
        slice c = content_of(m);
        if (role_is(m, "user") && !(sl_starts(c, "<tool_response>") && sl_ends(c, "</tool_response>"))) return i;
    }
    return r->n - 1;
}

static vka_status chatml_assistant(render *r, size_t i, bool qwen3, size_t last_query) {
    const vka_chat_message *m = &r->msgs[i];
    vka_chat_buf *b = &r->out;
    slice content = content_of(m);
    slice reasoning = sl("");
    if (qwen3 && m->reasoning_content) {
        reasoning = sl(m->reasoning_content);
    } else if (qwen3 && sl_find(content, "</think>", false) != SIZE_MAX) {
        /* content.split('</think>')[-1].lstrip('\n') and
         * content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
        size_t first = sl_find(content, "</think>", false), last = sl_find(content, "</think>", true);
        slice before = {content.p, first};
        before = sl_strip_char(before, '\n', false, true);
        size_t open = sl_find(before, "<think>", true);
        if (open != SIZE_MAX) before = (slice){before.p + open + 7, before.n - open - 7};
        reasoning = sl_strip_char(before, '\n', true, false);
        size_t after = last + 8;
        content = sl_strip_char((slice){content.p + after, content.n - after}, '\n', true, false);
    }
    puts_(b, "<|im_start|>assistant\n");
    if (qwen3 && i > last_query && (i == r->n - 1 || reasoning.n > 0)) {
        puts_(b, "<think>\n");
        put(b, sl_strip_char(reasoning, '\n', true, true));
        puts_(b, "\n</think>\n\n");
        put(b, sl_strip_char(content, '\n', true, false));
    } else {
        put(b, content);
    }

    cJSON *calls;
    VKA_TRY(tool_calls_of(m, i, &calls));
    size_t j = 0;
    for (const cJSON *call = calls ? calls->child : NULL; call; call = call->next, j++) {
        const char *name;
        const cJSON *args;
        vka_status st = tool_call_fields(call, i, j, &name, &args);
        if (st != VKA_OK) {
            cJSON_Delete(calls);
            return st;
        }
        if (j > 0 || content.n > 0) puts_(b, "\n");
        puts_(b, "<tool_call>\n{\"name\": \"");
        puts_(b, name);
        puts_(b, "\", \"arguments\": ");
        if (cJSON_IsString(args))
            puts_(b, args->valuestring);
        else
            vka_chat_tojson(b, args, 0);
        puts_(b, "}\n</tool_call>");
    }
    cJSON_Delete(calls);
    puts_(b, "<|im_end|>\n");
    return VKA_OK;
}

static vka_status render_chatml(render *r, bool qwen3) {
    vka_chat_buf *b = &r->out;
    bool first_is_system = r->n > 0 && role_is(&r->msgs[0], "system");
    if (r->tools && r->tools->child) {
        chatml_tools_system(r, first_is_system);
    } else if (first_is_system || r->default_system) {
        puts_(b, "<|im_start|>system\n");
        put(b, first_is_system ? content_of(&r->msgs[0]) : sl(r->default_system));
        puts_(b, "<|im_end|>\n");
    }
    size_t last_query = r->n > 0 ? qwen3_last_query(r) : 0;
    for (size_t i = 0; i < r->n; i++) {
        const vka_chat_message *m = &r->msgs[i];
        if (i == 0 && first_is_system) continue;
        if (role_is(m, "assistant")) {
            VKA_TRY(chatml_assistant(r, i, qwen3, last_query));
        } else if (role_is(m, "tool")) {
            if (i == 0 || !role_is(&r->msgs[i - 1], "tool")) puts_(b, "<|im_start|>user");
            puts_(b, "\n<tool_response>\n");
            put(b, content_of(m));
            puts_(b, "\n</tool_response>");
            if (i == r->n - 1 || !role_is(&r->msgs[i + 1], "tool")) puts_(b, "<|im_end|>\n");
        } else {
            puts_(b, "<|im_start|>");
            puts_(b, m->role);
            puts_(b, "\n");
            put(b, content_of(m));
            puts_(b, "<|im_end|>\n");
        }
    }
    if (r->params->add_generation_prompt) {
        puts_(b, "<|im_start|>assistant\n");
        if (qwen3 && !r->params->enable_thinking) puts_(b, "<think>\n\n</think>\n\n");
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- llama 3 */

static void llama3_turn(vka_chat_buf *b, const char *role, slice content) {
    puts_(b, "<|start_header_id|>");
    puts_(b, role);
    puts_(b, "<|end_header_id|>\n\n");
    put(b, content);
    puts_(b, "<|eot_id|>");
}

static vka_status render_llama3(render *r) {
    for (size_t i = 0; i < r->n; i++) {
        if (i == 0) puts_(&r->out, r->bos);
        llama3_turn(&r->out, r->msgs[i].role, sl_trim(content_of(&r->msgs[i])));
    }
    if (r->params->add_generation_prompt || r->gen_always) puts_(&r->out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return VKA_OK;
}

/* Llama 3.1's tool call: {"name": "N", "parameters": A}. OpenAI gives A as
 * a JSON string; it is written as the object it holds (the template wants
 * an object and would quote a string). */
static vka_status llama31_tool_call(render *r, size_t i) {
    vka_chat_buf *b = &r->out;
    cJSON *calls;
    VKA_TRY(tool_calls_of(&r->msgs[i], i, &calls));
    if (cJSON_GetArraySize(calls) != 1) {
        cJSON_Delete(calls);
        return vka_fail(VKA_ERR_UNSUPPORTED,
                        "messages[%zu]: the llama3.1 chat format takes exactly one tool call per assistant "
                        "message (its template refuses more); HINT: split the calls into separate turns", i);
    }
    const char *name;
    const cJSON *args;
    vka_status st = tool_call_fields(calls->child, i, 0, &name, &args);
    if (st == VKA_OK) {
        cJSON *parsed = cJSON_IsString(args) ? cJSON_Parse(args->valuestring) : NULL;
        puts_(b, "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"");
        puts_(b, name);
        puts_(b, "\", \"parameters\": ");
        vka_chat_tojson(b, parsed ? parsed : args, 0);
        puts_(b, "}<|eot_id|>");
        cJSON_Delete(parsed);
    }
    cJSON_Delete(calls);
    return st;
}

static vka_status render_llama31(render *r) {
    vka_chat_buf *b = &r->out;
    size_t i = 0;
    slice system = sl("");
    if (r->n > 0 && role_is(&r->msgs[0], "system")) system = sl_trim(content_of(&r->msgs[i++]));
    puts_(b, r->bos);
    puts_(b, "<|start_header_id|>system<|end_header_id|>\n\n");
    if (r->tools) puts_(b, "Environment: ipython\n");
    puts_(b, "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
    put(b, system);
    puts_(b, "<|eot_id|>");
    if (r->tools) {
        if (i >= r->n)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT,
                            "the llama3.1 chat format puts tools in the first user message, and there is none");
        puts_(b, "<|start_header_id|>user<|end_header_id|>\n\n"
                 "Given the following functions, please respond with a JSON for a function call with its "
                 "proper arguments that best answers the given prompt.\n\n"
                 "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name "
                 "and its value}.Do not use variables.\n\n");
        for (const cJSON *tool = r->tools->child; tool; tool = tool->next) {
            vka_chat_tojson(b, tool, 4);
            puts_(b, "\n\n");
        }
        put(b, sl_trim(content_of(&r->msgs[i++])));
        puts_(b, "<|eot_id|>");
    }
    for (; i < r->n; i++) {
        const vka_chat_message *m = &r->msgs[i];
        if (m->tool_calls_json) {
            VKA_TRY(llama31_tool_call(r, i));
        } else if (is_tool_result(m)) {
            puts_(b, "<|start_header_id|>ipython<|end_header_id|>\n\n");
            slice c = content_of(m);
            vka_chat_tojson_string(b, c.p, c.n);
            puts_(b, "<|eot_id|>");
        } else {
            llama3_turn(b, m->role, sl_trim(content_of(m)));
        }
    }
    if (r->params->add_generation_prompt) puts_(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    return VKA_OK;
}

/* ---------------------------------------------------------------- [INST] families */

static vka_status render_llama2(render *r) {
    VKA_TRY(refuse_tool_use(r, "llama2"));
    vka_chat_buf *b = &r->out;
    size_t start = r->n > 0 && role_is(&r->msgs[0], "system") ? 1 : 0;
    VKA_TRY(check_alternation(r, start, "llama2"));
    for (size_t i = start; i < r->n; i++) {
        const vka_chat_message *m = &r->msgs[i];
        if (role_is(m, "user")) {
            puts_(b, r->bos);
            puts_(b, "[INST] ");
            if (i == start && start == 1) {
                /* The template strips the folded text as a whole: the
                 * system text keeps its edges, the user text loses its end. */
                slice user = sl_rtrim(content_of(m));
                puts_(b, "<<SYS>>\n");
                put(b, content_of(&r->msgs[0]));
                puts_(b, user.n > 0 ? "\n<</SYS>>\n\n" : "\n<</SYS>>");
                put(b, user);
            } else {
                put(b, sl_trim(content_of(m)));
            }
            puts_(b, " [/INST]");
        } else {
            puts_(b, " ");
            put(b, sl_trim(content_of(m)));
            puts_(b, " ");
            puts_(b, r->eos);
        }
    }
    return VKA_OK;
}

static vka_status render_mistral(render *r, bool v3) {
    const char *family = v3 ? "mistral-v3" : "mistral";
    VKA_TRY(refuse_tool_use(r, family));
    vka_chat_buf *b = &r->out;
    size_t start = r->n > 0 && role_is(&r->msgs[0], "system") ? 1 : 0;
    VKA_TRY(check_alternation(r, start, family));
    puts_(b, r->bos);
    for (size_t i = start; i < r->n; i++) {
        const vka_chat_message *m = &r->msgs[i];
        if (role_is(m, "user")) {
            bool with_system = start == 1 && (v3 ? i == r->n - 1 : i == start);
            puts_(b, "[INST] ");
            if (with_system) {
                put(b, content_of(&r->msgs[0]));
                puts_(b, "\n\n");
            }
            put(b, content_of(m));
            puts_(b, v3 ? "[/INST]" : " [/INST]");
        } else {
            if (v3) puts_(b, " ");
            put(b, v3 ? sl_trim(content_of(m)) : content_of(m));
            puts_(b, r->eos);
        }
    }
    return VKA_OK;
}

/* ---------------------------------------------------------------- zephyr, gemma, phi3 */

static vka_status render_zephyr(render *r) {
    VKA_TRY(refuse_tool_use(r, "zephyr"));
    vka_chat_buf *b = &r->out;
    for (size_t i = 0; i < r->n; i++) {
        puts_(b, "<|");
        puts_(b, r->msgs[i].role);
        puts_(b, "|>\n");
        put(b, content_of(&r->msgs[i]));
        puts_(b, r->eos);
        puts_(b, "\n");
    }
    if (r->n > 0 && r->params->add_generation_prompt) puts_(b, "<|assistant|>\n");
    return VKA_OK;
}

static vka_status render_gemma(render *r) {
    VKA_TRY(refuse_tool_use(r, "gemma"));
    vka_chat_buf *b = &r->out;
    size_t start = r->n > 0 && role_is(&r->msgs[0], "system") ? 1 : 0;
    VKA_TRY(check_alternation(r, start, "gemma"));
    puts_(b, r->bos);
    for (size_t i = start; i < r->n; i++) {
        const vka_chat_message *m = &r->msgs[i];
        puts_(b, "<start_of_turn>");
        puts_(b, role_is(m, "assistant") ? "model" : m->role);
        puts_(b, "\n");
        if (i == start && start == 1) {
            put(b, content_of(&r->msgs[0]));
            puts_(b, "\n\n");
        }
        put(b, sl_trim(content_of(m)));
        puts_(b, "<end_of_turn>\n");
    }
    if (r->params->add_generation_prompt) puts_(b, "<start_of_turn>model\n");
    return VKA_OK;
}

static vka_status render_phi3(render *r) {
    VKA_TRY(refuse_tool_use(r, "phi3"));
    vka_chat_buf *b = &r->out;
    for (size_t i = 0; i < r->n; i++) {
        puts_(b, "<|");
        puts_(b, r->msgs[i].role);
        puts_(b, "|>\n");
        put(b, content_of(&r->msgs[i]));
        puts_(b, "<|end|>\n");
    }
    puts_(b, r->params->add_generation_prompt ? "<|assistant|>\n" : r->eos);
    return VKA_OK;
}

/* ---------------------------------------------------------------- entry point */

void vka_chat_render_params_init(vka_chat_render_params *params) {
    memset(params, 0, sizeof *params);
    params->add_generation_prompt = true;
    params->enable_thinking = true;
}

/* BOS/EOS texts the families use when the caller gives none. */
static void default_special_texts(vka_chat_family f, const char **bos, const char **eos) {
    switch (f) {
    case VKA_CHAT_LLAMA3:
    case VKA_CHAT_LLAMA31: *bos = "<|begin_of_text|>"; *eos = "<|end_of_text|>"; break;
    case VKA_CHAT_LLAMA2:
    case VKA_CHAT_MISTRAL:
    case VKA_CHAT_MISTRAL_V3:
    case VKA_CHAT_ZEPHYR: *bos = "<s>"; *eos = "</s>"; break;
    case VKA_CHAT_GEMMA: *bos = "<bos>"; *eos = "<eos>"; break;
    case VKA_CHAT_PHI3: *bos = "<s>"; *eos = "<|endoftext|>"; break;
    default: *bos = ""; *eos = "<|im_end|>"; break;
    }
}

static vka_status validate_messages(const vka_chat_message *msgs, size_t n) {
    if (n > 0 && !msgs) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_chat_render: messages is NULL");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !*msgs[i].role)
            return vka_fail(VKA_ERR_INVALID_ARGUMENT, "messages[%zu] has no role", i);
    return VKA_OK;
}

static vka_status parse_tools(const char *json, cJSON **tools) {
    *tools = NULL;
    if (!json) return VKA_OK;
    cJSON *t = cJSON_Parse(json);
    if (!t) return vka_fail(VKA_ERR_FORMAT, "tools: invalid JSON");
    if (cJSON_IsNull(t)) {
        cJSON_Delete(t);
        return VKA_OK;
    }
    if (!cJSON_IsArray(t)) {
        cJSON_Delete(t);
        return vka_fail(VKA_ERR_FORMAT, "tools: expected a JSON array of tool definitions");
    }
    *tools = t;
    return VKA_OK;
}

static vka_status render_family(render *r, vka_chat_family f) {
    switch (f) {
    case VKA_CHAT_CHATML: return render_chatml(r, false);
    case VKA_CHAT_QWEN3: return render_chatml(r, true);
    case VKA_CHAT_LLAMA3: return render_llama3(r);
    case VKA_CHAT_LLAMA31: return render_llama31(r);
    case VKA_CHAT_LLAMA2: return render_llama2(r);
    case VKA_CHAT_MISTRAL: return render_mistral(r, false);
    case VKA_CHAT_MISTRAL_V3: return render_mistral(r, true);
    case VKA_CHAT_ZEPHYR: return render_zephyr(r);
    case VKA_CHAT_GEMMA: return render_gemma(r);
    case VKA_CHAT_PHI3: return render_phi3(r);
    case VKA_CHAT_FAMILY_COUNT: break;
    }
    return vka_fail(VKA_ERR_INTERNAL, "chat family %d has no renderer", (int)f);
}

vka_status vka_chat_render(const vka_chat_render_params *params, const vka_chat_message *msgs, size_t n,
                           char **out) {
    if (!params || !out) return vka_fail(VKA_ERR_INVALID_ARGUMENT, "vka_chat_render: NULL argument");
    *out = NULL;
    VKA_TRY(validate_messages(msgs, n));
    vka_chat_family family = VKA_CHAT_CHATML; /* set below on every path; -O3 cannot see it through VKA_TRY */
    const char *tmpl = params->template_text;
    if (params->family) {
        VKA_TRY(vka_chat_family_from_name(params->family, &family));
        tmpl = NULL; /* an override renders the family's plain layout, nothing from the template */
    } else {
        family = vka_chat_detect(tmpl, NULL);
    }

    render r = {.params = params, .msgs = msgs, .n = n};
    default_special_texts(family, &r.bos, &r.eos);
    if (params->bos_text) r.bos = params->bos_text;
    if (params->eos_text) r.eos = params->eos_text;
    if (tmpl && family == VKA_CHAT_LLAMA3) r.gen_always = !has(tmpl, "add_generation_prompt");
    if (tmpl && (family == VKA_CHAT_CHATML || family == VKA_CHAT_QWEN3))
        VKA_TRY(chatml_default_system(tmpl, &r.default_system));
    vka_status st = parse_tools(params->tools_json, &r.tools);
    if (st == VKA_OK) st = render_family(&r, family);
    if (st == VKA_OK && r.out.oom) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    if (st == VKA_OK && !r.out.data) { /* nothing rendered, e.g. no messages */
        vka_chat_buf_puts(&r.out, "");
        if (r.out.oom) st = vka_fail(VKA_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    }
    cJSON_Delete(r.tools);
    free(r.default_system);
    if (st != VKA_OK) {
        free(r.out.data);
        return st;
    }
    *out = r.out.data;
    return VKA_OK;
}
