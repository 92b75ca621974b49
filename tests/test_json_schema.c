/* test_json_schema.c — JSON Schema to GBNF: for each supported keyword the
 * generated grammar (run through the matcher) accepts hand-written valid
 * instances and rejects invalid ones; unsupported keywords fail by name. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar.h"
#include "json_schema.h"
#include "test_util.h"

/* Whether the whole text is a complete match of the grammar. */
static bool full_match(const vka_grammar *g, const char *text) {
    vka_grammar_state *st;
    cr_assert_eq(vka_grammar_state_create(g, &st), VKA_OK, "%s", vka_last_error());
    bool ok = false;
    cr_assert_eq(vka_grammar_accept_bytes(st, text, strlen(text), &ok), VKA_OK, "%s", vka_last_error());
    ok = ok && vka_grammar_can_end(st);
    vka_grammar_state_free(st);
    return ok;
}

static void check_schema_ws(const char *schema, vka_json_ws ws, const char *const *valid, const char *const *invalid) {
    char *gbnf = NULL;
    cr_assert_eq(vka_json_schema_to_gbnf_ws(schema, ws, &gbnf), VKA_OK, "schema %s: %s", schema, vka_last_error());
    vka_grammar *g = NULL;
    cr_assert_eq(vka_grammar_parse(gbnf, NULL, &g), VKA_OK, "generated grammar does not parse: %s\n%s", vka_last_error(),
                 gbnf);
    for (; valid && *valid; valid++)
        cr_expect(full_match(g, *valid), "schema %s\nshould accept %s\ngrammar:\n%s", schema, *valid, gbnf);
    for (; invalid && *invalid; invalid++)
        cr_expect(!full_match(g, *invalid), "schema %s\nshould reject %s\ngrammar:\n%s", schema, *invalid, gbnf);
    vka_grammar_free(g);
    free(gbnf);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define CHECK(schema, valid, invalid) check_schema_ws(schema, VKA_JSON_WS_COMPACT, valid, invalid)

static void expect_schema_error(const char *schema, const char *message) {
    char *gbnf = NULL;
    vka_status s = vka_json_schema_to_gbnf(schema, &gbnf);
    cr_expect_eq(s, VKA_ERR_GRAMMAR, "schema should fail: %s", schema);
    cr_expect_null(gbnf);
    if (s == VKA_ERR_GRAMMAR)
        cr_expect(strstr(vka_last_error(), message) != NULL, "schema %s\nerror:  %s\nwanted: %s", schema,
                  vka_last_error(), message);
    free(gbnf);
}

Test(json_schema, primitive_types) {
    CHECK("{\"type\":\"string\"}", LIST("\"\"", "\"abc\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u12aB\"", "\"caf\xc3\xa9\""),
          LIST("abc", "\"a", "\"\\x\"", "\"\\u12\"", "\"raw\nnewline\"", "\"tab\there\"", "\"\x01\""));
    CHECK("{\"type\":\"number\"}", LIST("0", "-0", "12", "-3.25", "1e5", "1E-7", "2.5e+10"),
          LIST("01", "1.", ".5", "+1", "1e", "--1", "NaN"));
    CHECK("{\"type\":\"integer\"}", LIST("0", "-7", "1234567890123"), LIST("1.0", "01", "1e3", "-"));
    CHECK("{\"type\":\"boolean\"}", LIST("true", "false"), LIST("True", "1", "null"));
    CHECK("{\"type\":\"null\"}", LIST("null"), LIST("nil", "\"null\""));
    CHECK("{\"type\":[\"string\",\"null\"]}", LIST("\"x\"", "null"), LIST("1", "false"));
}

Test(json_schema, object_properties_required_and_order) {
    const char *schema = "{\"type\":\"object\",\"properties\":{"
                         "\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"},\"c\":{\"type\":\"boolean\"}},"
                         "\"required\":[\"b\"]}";
    CHECK(schema,
          LIST("{\"b\":\"x\"}", "{\"a\":1,\"b\":\"x\"}", "{\"b\":\"x\",\"c\":true}", "{\"a\":1,\"b\":\"x\",\"c\":false}"),
          LIST("{}", "{\"a\":1}", "{\"b\":\"x\",}", "{,\"b\":\"x\"}", "{\"b\":\"x\",\"a\":1}", "{\"b\":1}",
               "{\"b\":\"x\",\"d\":1}", "{\"a\":1,,\"b\":\"x\"}", "{ \"b\":\"x\"}"));
    /* all optional: any subset in schema order, never a stray comma */
    CHECK("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"null\"},\"b\":{\"type\":\"null\"},\"c\":{\"type\":\"null\"}}}",
          LIST("{}", "{\"a\":null}", "{\"b\":null}", "{\"c\":null}", "{\"a\":null,\"c\":null}", "{\"a\":null,\"b\":null,\"c\":null}"),
          LIST("{,}", "{\"a\":null,}", "{,\"b\":null}", "{\"c\":null,\"a\":null}", "{\"a\":null\"b\":null}"));
    /* keys with characters that need escaping in JSON and in GBNF */
    CHECK("{\"type\":\"object\",\"properties\":{\"q\\\"k\\\\\":{\"const\":1}},\"required\":[\"q\\\"k\\\\\"]}",
          LIST("{\"q\\\"k\\\\\":1}"), LIST("{\"qk\":1}"));
}

Test(json_schema, additional_properties) {
    /* default: none beyond the declared ones */
    CHECK("{\"properties\":{\"a\":{\"type\":\"integer\"}}}", LIST("{}", "{\"a\":1}"), LIST("{\"a\":1,\"z\":2}", "{\"z\":2}"));
    CHECK("{\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}", LIST("{\"a\":1}"),
          LIST("{\"a\":1,\"z\":2}"));
    CHECK("{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"],\"additionalProperties\":true}",
          LIST("{\"a\":1}", "{\"a\":1,\"z\":[1,{}]}", "{\"a\":1,\"y\":null,\"z\":\"s\"}"), LIST("{\"z\":2}", "{\"a\":1,}"));
    CHECK("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
          LIST("{}", "{\"x\":1}", "{\"x\":1,\"y\":-2}"), LIST("{\"x\":\"s\"}", "{\"x\":1,}"));
    /* no properties and no additionalProperties: any object */
    CHECK("{\"type\":\"object\"}", LIST("{}", "{\"k\":[1,2,{\"n\":null}]}"), LIST("[]", "{\"k\"}"));
}

Test(json_schema, arrays) {
    CHECK("{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", LIST("[]", "[1]", "[1,2,3]"), LIST("[1,]", "[,1]", "[\"a\"]", "[1 2]"));
    CHECK("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}", LIST("[1,2]", "[1,2,3]"),
          LIST("[]", "[1]", "[1,2,3,4]"));
    CHECK("{\"type\":\"array\",\"maxItems\":1}", LIST("[]", "[{\"a\":1}]"), LIST("[1,2]"));
    CHECK("{\"type\":\"array\",\"minItems\":1}", LIST("[1]", "[1,\"a\",null]"), LIST("[]"));
    CHECK("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
          LIST("[]", "[\"a\"]", "[\"a\",1]", "[\"a\",1,true,null]"), LIST("[1]", "[\"a\",\"b\"]"));
    CHECK("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false,\"minItems\":2}",
          LIST("[\"a\",1]"), LIST("[\"a\"]", "[\"a\",1,2]"));
    CHECK("{\"type\":\"array\",\"prefixItems\":[{\"const\":0}],\"items\":{\"type\":\"boolean\"},\"maxItems\":2}",
          LIST("[]", "[0]", "[0,true]"), LIST("[0,true,false]", "[true]"));
}

Test(json_schema, enum_and_const) {
    CHECK("{\"enum\":[\"red\",\"green\",1,null,{\"a\":[1]}]}", LIST("\"red\"", "\"green\"", "1", "null", "{\"a\":[1]}"),
          LIST("\"blue\"", "\"Red\"", "2", "{\"a\":[2]}"));
    CHECK("{\"const\":\"caf\xc3\xa9 \\\"q\\\"\\n\"}", LIST("\"caf\xc3\xa9 \\\"q\\\"\\n\""), LIST("\"cafe\""));
    CHECK("{\"type\":\"object\",\"properties\":{\"k\":{\"const\":true}},\"required\":[\"k\"]}", LIST("{\"k\":true}"),
          LIST("{\"k\":false}"));
}

Test(json_schema, string_lengths) {
    CHECK("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", LIST("\"ab\"", "\"abc\"", "\"\\n\\t\"", "\"\xe4\xb8\xad\xe6\x96\x87\""),
          LIST("\"a\"", "\"abcd\"", "\"\""));
    CHECK("{\"type\":\"string\",\"minLength\":1}", LIST("\"a\"", "\"abcdefghij\""), LIST("\"\""));
    CHECK("{\"type\":\"string\",\"maxLength\":0}", LIST("\"\""), LIST("\"a\""));
}

Test(json_schema, integer_ranges) {
    CHECK("{\"type\":\"integer\",\"minimum\":0,\"maximum\":150}", LIST("0", "5", "9", "10", "99", "100", "149", "150"),
          LIST("-1", "151", "200", "1000", "00", "007", "-0"));
    CHECK("{\"type\":\"integer\",\"minimum\":-15,\"maximum\":7}", LIST("-15", "-10", "-9", "-1", "0", "7"),
          LIST("-16", "-20", "8", "10", "-0"));
    CHECK("{\"type\":\"integer\",\"minimum\":37}", LIST("37", "38", "99", "100", "123456789"), LIST("36", "9", "0", "-37"));
    CHECK("{\"type\":\"integer\",\"maximum\":-3}", LIST("-3", "-4", "-10", "-1000"), LIST("-2", "0", "3"));
    CHECK("{\"type\":\"integer\",\"exclusiveMinimum\":9,\"exclusiveMaximum\":20}", LIST("10", "15", "19"),
          LIST("9", "20", "1"));
    CHECK("{\"type\":\"integer\",\"minimum\":1.5,\"maximum\":3.5}", LIST("2", "3"), LIST("1", "4"));
    CHECK("{\"type\":\"integer\",\"minimum\":1000,\"maximum\":1000}", LIST("1000"), LIST("999", "1001", "100"));
    CHECK("{\"type\":\"integer\",\"minimum\":5,\"exclusiveMinimum\":true}", LIST("6"), LIST("5"));
    /* a range across several digit counts, checked against the definition */
    char *gbnf = NULL;
    cr_assert_eq(vka_json_schema_to_gbnf("{\"type\":\"integer\",\"minimum\":-123,\"maximum\":4567}", &gbnf), VKA_OK);
    vka_grammar *g;
    cr_assert_eq(vka_grammar_parse(gbnf, NULL, &g), VKA_OK, "%s", vka_last_error());
    for (int v = -1200; v <= 5000; v += 1) {
        char text[16];
        snprintf(text, sizeof text, "%d", v);
        bool want = v >= -123 && v <= 4567;
        if (full_match(g, text) != want) cr_assert_fail("value %d: grammar says %d, range says %d", v, !want, want);
    }
    vka_grammar_free(g);
    free(gbnf);
}

Test(json_schema, any_of_one_of_and_refs) {
    CHECK("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", LIST("1", "\"a\""), LIST("\"ab\"", "true"));
    /* unbounded integers stop at 16 digits (JS_MAX_INT_DIGITS), so a model cannot emit digits forever */
    CHECK("{\"type\":\"integer\",\"minimum\":1}", LIST("1", "9999999999999999"), LIST("10000000000000000", "0"));
    CHECK("{\"type\":\"integer\"}", LIST("-1234567890123456", "0"), LIST("12345678901234567"));
    CHECK("{\"type\":\"number\"}", LIST("1.5e10", "-0.25"), LIST("1e1234", "12345678901234567"));
    /* siblings of a combiner are folded into each alternative */
    CHECK("{\"type\":\"string\",\"maxLength\":2,\"anyOf\":[{},{\"minLength\":2}]}", LIST("\"\"", "\"ab\""),
          LIST("\"abc\"", "1"));
    CHECK("{\"type\":\"object\",\"required\":[\"k\"],\"oneOf\":[{\"properties\":{\"k\":{\"const\":1}}},"
          "{\"properties\":{\"k\":{\"const\":2},\"v\":{\"type\":\"boolean\"}},\"required\":[\"v\"]}]}",
          LIST("{\"k\":1}", "{\"k\":2,\"v\":true}"), LIST("{}", "{\"k\":2}", "{\"k\":1,\"v\":true}"));
    CHECK("{\"$defs\":{\"s\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},\"$ref\":\"#/$defs/s\",\"maxItems\":1}",
          LIST("[]", "[3]"), LIST("[1,2]"));
    CHECK("{\"oneOf\":[{\"const\":\"a\"},{\"type\":\"array\",\"items\":{\"type\":\"null\"}}]}", LIST("\"a\"", "[null]"),
          LIST("\"b\"", "[1]"));
    const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{"
                       "\"v\":{\"type\":\"integer\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},"
                       "\"required\":[\"v\"]}},\"$ref\":\"#/$defs/node\"}";
    CHECK(tree, LIST("{\"v\":1}", "{\"v\":1,\"kids\":[]}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3}]},{\"v\":4}]}"),
          LIST("{\"kids\":[]}", "{\"v\":1,\"kids\":[{}]}"));
    CHECK("{\"definitions\":{\"p\":{\"type\":\"integer\"}},\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/p\"}}",
          LIST("[1,2]"), LIST("[\"1\"]"));
    /* recursion through the root */
    CHECK("{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"integer\"},{\"$ref\":\"#\"}]}}", LIST("[1,[2,[]],3]"),
          LIST("[1,[\"x\"]]"));
}

Test(json_schema, annotations_are_ignored) {
    CHECK("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"x\",\"title\":\"T\","
          "\"description\":\"d\",\"default\":1,\"examples\":[1],\"type\":\"integer\"}",
          LIST("1"), LIST("\"1\""));
    CHECK("true", LIST("1", "{\"a\":[]}"), LIST("{"));
    CHECK("{}", LIST("null", "[true]"), LIST("nul"));
}

Test(json_schema, spaced_whitespace) {
    const char *schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
                         "\"b\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},\"required\":[\"a\",\"b\"]}";
    check_schema_ws(schema, VKA_JSON_WS_SPACED, LIST("{ \"a\": 1, \"b\": [1, 2] }", "{\"a\":1,\"b\":[1,2]}", "{\"a\": 1, \"b\": [ ]}"),
                    LIST("{  \"a\": 1, \"b\": []}", "{\"a\" :\n1,\"b\":[]}"));
    CHECK(schema, LIST("{\"a\":1,\"b\":[1,2]}"), LIST("{ \"a\":1,\"b\":[]}", "{\"a\": 1,\"b\":[]}"));
}

Test(json_schema, unsupported_keywords_fail_by_name) {
    expect_schema_error("{\"type\":\"string\",\"pattern\":\"^a$\"}", "#/pattern: unsupported keyword 'pattern'");
    expect_schema_error("{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\",\"format\":\"date\"}}}",
                        "#/properties/d/format: unsupported keyword 'format'");
    expect_schema_error("{\"allOf\":[{\"type\":\"string\"}]}", "#/allOf: unsupported keyword 'allOf'");
    expect_schema_error("{\"not\":{\"type\":\"string\"}}", "#/not: unsupported keyword 'not'");
    expect_schema_error("{\"if\":{},\"then\":{},\"else\":{}}", "unsupported keyword 'if'");
    expect_schema_error("{\"type\":\"object\",\"patternProperties\":{\"^x\":{}}}", "#/patternProperties: unsupported keyword");
    expect_schema_error("{\"type\":\"object\",\"dependentRequired\":{}}", "unsupported keyword 'dependentRequired'");
    expect_schema_error("{\"type\":\"array\",\"uniqueItems\":true}", "unsupported keyword 'uniqueItems'");
    expect_schema_error("{\"type\":\"array\",\"items\":{\"$ref\":\"https://example.com/s.json\"}}",
                        "#/items/$ref: 'https://example.com/s.json' is not a local reference");
    expect_schema_error("{\"$ref\":\"#/$defs/missing\"}", "does not point to anything");
    expect_schema_error("{\"type\":\"number\",\"minimum\":0}", "#/minimum: bounds are supported on type \"integer\" only");
    expect_schema_error("{\"type\":\"string\",\"maxLength\":20000}", "#/maxLength: 20000 is above the supported limit");
    expect_schema_error("{\"type\":\"object\",\"properties\":{},\"required\":[\"x\"]}", "names 'x'");
    expect_schema_error("{\"type\":\"uuid\"}", "unknown type 'uuid'");
    expect_schema_error("false", "matches nothing");
    expect_schema_error("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "leave no value");
    /* keywords beside anyOf/oneOf/$ref join every alternative; contradicting ones are an error */
    expect_schema_error("{\"type\":\"string\",\"anyOf\":[{\"type\":\"integer\"}]}", "'type' here conflicts");
    expect_schema_error("{\"type\": \"string\",", "not valid JSON");
    char *out = NULL;
    cr_expect_eq(vka_json_schema_to_gbnf(NULL, &out), VKA_ERR_INVALID_ARGUMENT);
}

Test(json_schema, any_json_grammar) {
    static const vka_json_ws modes[] = {VKA_JSON_WS_COMPACT, VKA_JSON_WS_SPACED};
    for (int m = 0; m < 2; m++) {
        vka_grammar *g;
        cr_assert_eq(vka_grammar_parse(vka_json_any_gbnf_ws(modes[m]), NULL, &g), VKA_OK, "%s", vka_last_error());
        static const char *const valid[] = {"0", "\"s\"", "true", "null", "[]", "{}", "[1,\"a\",{\"b\":[null,false]}]",
                                            "{\"a\":{\"b\":{\"c\":{\"d\":[[[[1]]]]}}}}", "-1.5e-3"};
        static const char *const invalid[] = {"[1,]", "{\"a\"}", "{a:1}", "'s'", "[01]", "{\"a\":1,}", "nul"};
        for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) cr_expect(full_match(g, valid[i]), "%s", valid[i]);
        for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) cr_expect(!full_match(g, invalid[i]), "%s", invalid[i]);
        cr_expect_eq(full_match(g, "{ \"a\": [1, 2] }"), m == 1, "spaces only in spaced mode");
        vka_grammar_free(g);
    }
    cr_expect_eq(vka_json_any_gbnf(), vka_json_any_gbnf_ws(VKA_JSON_WS_COMPACT));
}
