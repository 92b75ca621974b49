/* test_jinja.c — the Jinja interpreter (engine/text/jinja*.c): each case's
 * expected text (or failure) is what @huggingface/jinja 0.5.13, the
 * reference, renders for the same template and context (the table was
 * produced with it); then error statuses, line numbers, sandbox limits and
 * the public vka_chat_template_render. tests/jinja/compare.mjs checks the
 * real templates of tests/data/templates the same way. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"
#include "vkagent.h"

typedef struct jcase {
    const char *name, *tmpl, *context;
    bool ok;
    const char *expected;
} jcase;

static const jcase reference_cases[] = {
    {"ws_control",
     "  {%- if true -%}  x  {%- endif -%}  \n{{- ' y ' -}}  .",
     "{}",
     true, "x y ."},
    {"trim_lstrip",
     "a\n  {% if true %}\n  b\n  {% endif %}\nc\n",
     "{}",
     true, "a\n  b\nc"},
    {"comment_ws",
     "a {#- c -#} b\n{# d #}\ne",
     "{}",
     true, "ab\ne"},
    {"loop_vars",
     "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem }}/{{ loop.nextitem }};{% endfor %}",
     "{\"xs\": [\"a\", \"b\", \"c\"]}",
     true, "1/0/3/true/false/3//b;2/1/2/false/false/3/a/c;3/2/1/false/true/3/b/;"},
    {"loop_else_filter",
     "{% for x in xs if x > 1 %}{{ x }}{% else %}none{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}",
     "{\"xs\": [1, 2, 3]}",
     true, "23|empty"},
    {"break_continue",
     "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
     "{}",
     true, "0134"},
    {"namespace",
     "{% set ns = namespace(n=0, s='') %}{% for m in ms %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.n }} {{ ns.s }}",
     "{\"ms\": [{\"role\": \"user\"}, {\"role\": \"assistant\"}]}",
     true, "2 ua"},
    {"scoping",
     "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}{% if true %}{% set x = 3 %}{% endif %}{{ x }}",
     "{}",
     true, "213"},
    {"macro",
     "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}",
     "{}",
     true, "Hi A! Hi B? Hi C!"},
    {"call_block",
     "{% macro wrap() %}[{{ caller() }}]{% endmacro %}{% call wrap() %}inside{% endcall %}",
     "{}",
     true, "[inside]"},
    {"filters_string",
     "{{ ' Ab c '|trim }}|{{ 'abc'|upper }}|{{ 'ABC'|lower }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}|{{ 'abc'|length }}|{{ 'a-b-c'|replace('-', '+') }}|{{ '12x'|int }}|{{ '1.5e1z'|float }}",
     "{}",
     true, "Ab c|ABC|abc|Hello World|HELLO|3|a+b+c|12|15.0"},
    {"filters_list",
     "{{ xs|length }}|{{ xs|first }}|{{ xs|last }}|{{ xs|join(', ') }}|{{ xs|reverse|join }}|{{ [3,1,2]|sort|join }}|{{ [1,1,2]|unique|join }}|{{ xs|string }}",
     "{\"xs\": [\"a\", \"b\", \"c\"]}",
     true, "3|a|c|a, b, c|cba|123|12|[\"a\", \"b\", \"c\"]"},
    {"filters_dict",
     "{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}{{ d|length }}{% for k, v in d|dictsort %}{{ k }}{% endfor %}",
     "{\"d\": {\"b\": 1, \"a\": 2}}",
     true, "b=1;a=2;2ab"},
    {"selectattr_map",
     "{{ ms|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }}|{{ ms|rejectattr('role', 'equalto', 'user')|list|length }}|{{ ms|map(attribute='x', default='-')|join }}",
     "{\"ms\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"user\", \"content\": \"c\"}]}",
     true, "a,c|1|---"},
    {"default",
     "{{ x|default('d') }}|{{ ''|default('e', true) }}|{{ none|default('f') }}",
     "{}",
     true, "d|e|"},
    {"tests",
     "{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 's' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 3 is odd }}{{ 4 is even }}{{ 1 is number }}{{ x is not none }}",
     "{\"x\": 1}",
     true, "truetruetruetruetruetruetruetruetruetrue"},
    {"string_methods",
     "{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'xyx'.strip() }}|{{ '  l'.lstrip() }}|{{ 'r  '.rstrip() }}|{{ 'abc'.startswith('a') }}{{ 'abc'.endswith(('x', 'c')) }}|{{ 'ab'.upper() }}|{{ 'a b'.title() }}|{{ 'aaa'.replace('a', 'b', 2) }}",
     "{}",
     true, "[\"a\", \"b\", \"\", \"c\"]|[\"a\", \"b\"]|xyx|l|r|truetrue|AB|A B|bba"},
    {"dict_methods",
     "{{ d.get('a') }}|{{ d.get('z', 'dz') }}|{{ d.get('z') }}|{% for k in d.keys() %}{{ k }}{% endfor %}|{% for v in d.values() %}{{ v }}{% endfor %}|{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}",
     "{\"d\": {\"a\": 1, \"b\": 2}}",
     true, "1|dz||ab|12|a1b2"},
    {"slicing",
     "{{ xs[1:] }}|{{ xs[:-1] }}|{{ xs[::-1] }}|{{ xs[-1] }}|{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ xs[0:10:2] }}",
     "{\"xs\": [1, 2, 3, 4]}",
     true, "[2, 3, 4]|[1, 2, 3]|[4, 3, 2, 1]|4|el|olleh|[1, 3]"},
    {"operators",
     "{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}|{{ 'a' ~ 1 ~ 2.0 ~ true }}|{{ 'a' + 'b' }}|{{ 1 == 1.0 }}|{{ 'x' in 'xyz' }}|{{ 2 in [1, 2] }}|{{ 'k' in {'k': 1} }}|{{ 3 not in [1] }}|{{ not true }}|{{ -3 }}|{{ 1.0 }}|{{ 2.5 }}|{{ 1 if false else 2 }}",
     "{}",
     true, "7|3|1|3.5|1024|a12true|ab|true|true|true|true|true|false|-3|1.0|2.5|2"},
    {"literals",
     "{{ [1, 'a', none, true, 1.5, {'k': [1, 2]}] }}|{{ {'a': 1, 'b': 'x'} }}|{{ (1, 2)|length }}|{{ 'con' 'cat' }}|{{ \"esc\\n\\t\\u00e9\" }}",
     "{}",
     true, "[1, \"a\", null, true, 1.5, {\"k\": [1, 2]}]|{\"a\": 1, \"b\": \"x\"}|2|concat|esc\n\t\303\251"},
    {"tojson",
     "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ '\303\251\"'|tojson }}|{{ '\303\251'|tojson(ensure_ascii=true) }}|{{ d|tojson(sort_keys=true) }}|{{ [1.5, 2, true, none]|tojson }}|{{ d|tojson(separators=(',', ':')) }}",
     "{\"d\": {\"z\": [1, {\"y\": \"\\u00e9\"}], \"a\": null}}",
     true, "{\"z\": [1, {\"y\": \"\303\251\"}], \"a\": null}|{\n  \"z\": [\n    1,\n    {\n      \"y\": \"\303\251\"\n    }\n  ],\n  \"a\": null\n}|\"\303\251\\\"\"|\"\\u00e9\"|{\"a\": null, \"z\": [1, {\"y\": \"\303\251\"}]}|[1.5, 2, true, null]|{\"z\":[1,{\"y\":\"\303\251\"}],\"a\":null}"},
    {"indent",
     "{{ 'a\nb\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ 'a\nb'|indent('> ', first=true) }}",
     "{}",
     true, "a\n    b\n\n    c|  a\n  b|> a\n> b"},
    {"equality_js",
     "{{ 1 == '1' }}{{ true == 1 }}{{ none == x }}{{ [] == [] }}{{ 0 == '' }}{{ 'a' == 'a' }}",
     "{}",
     true, "truetruetruefalsetruetrue"},
    {"messages_like",
     "{%- for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{% if not loop.last %}\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
     "{\"messages\": [{\"role\": \"user\", \"content\": \" hi \"}, {\"role\": \"assistant\", \"content\": \"yo\"}], \"add_generation_prompt\": true}",
     true, "<|user|>hi<|assistant|>yo<|assistant|>"},
    {"generation_tag",
     "a {%- generation -%} b {% endgeneration %} c",
     "{}",
     true, "ab  c"},
    {"filter_block",
     "{% filter upper %}abc{{ 'd' }}{% endfilter %}",
     "{}",
     true, "ABCD"},
    {"set_block",
     "{% set x %}in{{ 1 }}{% endset %}[{{ x }}]",
     "{}",
     true, "[in1]"},
    {"kwargs_varargs",
     "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k=4) }}",
     "{}",
     true, "1[2, 3]{\"k\": 4}"},
    {"raise",
     "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok",
     "{\"messages\": [{\"role\": \"system\"}]}",
     false, NULL},
    {"unknown_filter",
     "{{ 'a'|nosuchfilter }}",
     "{}",
     false, NULL},
    {"unclosed",
     "{% if true %}x",
     "{}",
     false, NULL},
    {"tuple_print",
     "{{ (1, 2) }}",
     "{}",
     false, NULL},
    {"ops_none",
     "{{ 'a' ~ none }}",
     "{}",
     false, NULL},
    {"none_print",
     "[{{ none }}][{{ undefined_thing }}][{{ false }}][{{ x.y.z }}]",
     "{\"x\": {}}",
     true, "[][][false][]"},
};

static vka_status render(const char *tmpl, const char *context, const vka_jinja_limits *limits, char **out) {
    vka_jinja_template *t = NULL;
    vka_status st = vka_jinja_parse(tmpl, strlen(tmpl), &t);
    if (st != VKA_OK) return st;
    st = vka_jinja_render(t, context, limits, out, NULL);
    vka_jinja_free(t);
    return st;
}

Test(jinja, matches_the_reference) {
    for (size_t i = 0; i < sizeof reference_cases / sizeof reference_cases[0]; i++) {
        const jcase *c = &reference_cases[i];
        char *out = NULL;
        vka_status st = render(c->tmpl, c->context, NULL, &out);
        if (c->ok) {
            cr_expect_eq(st, VKA_OK, "%s: %s", c->name, vka_last_error());
            if (st == VKA_OK) cr_expect_str_eq(out, c->expected, "%s", c->name);
        } else {
            cr_expect_neq(st, VKA_OK, "%s: rendered '%s' where the reference fails", c->name, out ? out : "");
            cr_expect_null(out, "%s", c->name);
            cr_expect(vka_last_error()[0], "%s: a failure says why", c->name);
        }
        free(out);
    }
}

Test(jinja, errors_name_the_line) {
    char *out = NULL;
    cr_expect_eq(render("a\nb\n{{ 'x'|nosuchfilter }}", "{}", NULL, &out), VKA_ERR_FORMAT);
    cr_expect(strstr(vka_last_error(), "line 3"), "%s", vka_last_error());
    cr_expect_eq(render("ok\n{% if %}", "{}", NULL, &out), VKA_ERR_FORMAT);
    cr_expect(strstr(vka_last_error(), "line 2"), "%s", vka_last_error());
    cr_expect_eq(render("{% for x in y %}", "{}", NULL, &out), VKA_ERR_FORMAT);
    cr_expect_eq(render("{{ 'unterminated }}", "{}", NULL, &out), VKA_ERR_FORMAT);
    cr_expect_eq(render("{% break %}", "{}", NULL, &out), VKA_ERR_FORMAT);
    cr_expect_null(out);
}

Test(jinja, raise_exception_is_invalid_argument) {
    char *out = NULL;
    cr_expect_eq(render("{{ raise_exception('no system role') }}", "{}", NULL, &out), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_str_eq(vka_last_error(), "template raised: no system role");
    cr_expect_null(out);
}

Test(jinja, sandbox_limits) {
    char *out = NULL;
    vka_jinja_limits small = {.max_steps = 1000};
    cr_expect_eq(render("{% for i in range(100000) %}x{% endfor %}", "{}", &small, &out), VKA_ERR_UNSUPPORTED);
    cr_expect_eq(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "{}", NULL, &out), VKA_ERR_UNSUPPORTED);
    vka_jinja_limits out_limit = {.max_output = 1000};
    cr_expect_eq(render("{% for i in range(2000) %}xy{% endfor %}", "{}", &out_limit, &out), VKA_ERR_UNSUPPORTED);
    vka_jinja_limits mem = {.max_memory = 1 << 20};
    cr_expect_eq(render("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                        "{}", &mem, &out), VKA_ERR_UNSUPPORTED);
    /* nesting past the parser's depth */
    char deep[4200];
    memset(deep, '(', 2000);
    strcpy(deep + 2000, "1");
    memset(deep + 2001, ')', 2000);
    deep[4001] = '\0';
    char tmpl[4300];
    snprintf(tmpl, sizeof tmpl, "{{ %s }}", deep);
    cr_expect_eq(render(tmpl, "{}", NULL, &out), VKA_ERR_FORMAT);
    cr_expect_null(out);
}

Test(jinja, context_json) {
    char *out = NULL;
    cr_expect_eq(render("{{ a }}", "[1]", NULL, &out), VKA_ERR_FORMAT);
    cr_expect_eq(render("{{ a }}", "{\"range\": 1}", NULL, &out), VKA_ERR_FORMAT, "globals cannot be redefined");
    cr_assert_eq(render("{{ a }}{{ b }}", "{\"a\": 1.0, \"b\": 1.5}", NULL, &out), VKA_OK);
    cr_expect_str_eq(out, "11.5", "JSON 1.0 is an integer, as in JavaScript");
    free(out);
}

Test(jinja, template_render_api) {
    const char *tmpl = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                       "{% if tools %}T{{ tools|length }}{% endif %}{% if add_generation_prompt %}[assistant]{% endif %}";
    vka_chat_params p;
    vka_chat_params_default(&p);
    char *out = NULL;
    cr_assert_eq(vka_chat_template_render(tmpl, "[{\"role\":\"user\",\"content\":\"hi\"}]", &p,
                                          "{\"bos_token\":\"<s>\"}", &out), VKA_OK, "%s", vka_last_error());
    cr_expect_str_eq(out, "<s>[user]hi[assistant]");
    vka_free(out);
    p.add_generation_prompt = false;
    p.tools_json = "[{\"type\":\"function\"}]";
    cr_assert_eq(vka_chat_template_render(tmpl, "[]", &p, NULL, &out), VKA_OK, "%s", vka_last_error());
    cr_expect_str_eq(out, "T1");
    vka_free(out);
    cr_expect_eq(vka_chat_template_render(tmpl, "{}", &p, NULL, &out), VKA_ERR_FORMAT);
    cr_expect_eq(vka_chat_template_render(tmpl, "[]", &p, "{\"messages\": 1}", &out), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_chat_template_render(NULL, "[]", &p, NULL, &out), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_null(out);
}

Test(jinja, unicode_case_as_javascript) {
    /* as the reference renders it: JavaScript's toUpperCase/toLowerCase */
    char *out = NULL;
    cr_assert_eq(render("{{ 'é'|upper }}|{{ 'ÉCOLE'|lower }}|{{ 'élan'|capitalize }}|{{ 'Ä' is upper }}|{{ 'straße'.upper() }}",
                        "{}", NULL, &out), VKA_OK, "%s", vka_last_error());
    cr_expect_str_eq(out, "É|école|Élan|true|STRASSE");
    free(out);
}
