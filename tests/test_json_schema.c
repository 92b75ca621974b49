/* test_json_schema.c — JSON Schema to GBNF: for each keyword the generated
 * grammar (run through the matcher) accepts hand-written valid instances and
 * rejects invalid ones, exactly as the standard (and ajv) decides them; what
 * cannot be enforced fails naming the keyword. The audit cases of issue 10
 * are here as regressions. The property test (tests/property) checks the
 * same against ajv on generated schemas. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "structured/grammar.h"
#include "structured/json_schema.h"
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

static void check_flags(const char *schema, uint32_t flags, const char *const *valid, const char *const *invalid) {
    char *gbnf = NULL;
    cr_assert_eq(vka_json_schema_convert(schema, flags, &gbnf, NULL), VKA_OK, "schema %s: %s", schema, vka_last_error());
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
#define NONE ((const char *const *)NULL)
#define CHECK(schema, valid, invalid) check_flags(schema, 0, valid, invalid)

static void expect_error_flags(const char *schema, uint32_t flags, const char *message) {
    char *gbnf = NULL;
    vka_status s = vka_json_schema_convert(schema, flags, &gbnf, NULL);
    cr_expect_eq(s, VKA_ERR_GRAMMAR, "schema should fail: %s\n%s", schema, gbnf ? gbnf : "");
    cr_expect_null(gbnf);
    if (s == VKA_ERR_GRAMMAR)
        cr_expect(strstr(vka_last_error(), message) != NULL, "schema %s\nerror:  %s\nwanted: %s", schema,
                  vka_last_error(), message);
    free(gbnf);
}

#define EXPECT_ERROR(schema, message) expect_error_flags(schema, 0, message)

/* ---------------------------------------------------------------- types and values */

Test(json_schema, primitive_types) {
    CHECK("{\"type\":\"string\"}", LIST("\"\"", "\"abc\"", "\"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\u12aB\"", "\"caf\xc3\xa9\""),
          LIST("abc", "\"a", "\"\\x\"", "\"\\u12\"", "\"raw\nnewline\"", "\"tab\there\"", "\"\x01\""));
    CHECK("{\"type\":\"number\"}", LIST("0", "12", "-3.25", "1e5", "1E-7", "2.5e+10", "1e+21"),
          LIST("01", "1.", ".5", "+1", "1e", "--1", "NaN", "1e999"));
    CHECK("{\"type\":\"integer\"}", LIST("0", "-7", "1234567890123"), LIST("1.5", "01", "-"));
    CHECK("{\"type\":\"boolean\"}", LIST("true", "false"), LIST("True", "1", "null"));
    CHECK("{\"type\":\"null\"}", LIST("null"), LIST("nil", "\"null\""));
    CHECK("{\"type\":[\"string\",\"null\"]}", LIST("\"x\"", "null"), LIST("1", "false"));
}

Test(json_schema, no_type_means_any_value_under_the_facets) {
    /* keywords only constrain their own type: {"minLength": 2} admits numbers */
    CHECK("{\"minLength\":2}", LIST("\"ab\"", "5", "null", "[1]", "{\"a\":1}"), LIST("\"a\""));
    CHECK("{\"properties\":{\"a\":{\"type\":\"integer\"}}}", LIST("{\"a\":1}", "\"text\"", "[]", "{}"), LIST("{\"a\":\"x\"}"));
    CHECK("true", LIST("1", "\"s\"", "{\"a\":[null,{}]}"), LIST("nope"));
}

Test(json_schema, enum_and_const_meet_their_siblings) {
    CHECK("{\"enum\":[\"a\",1,null,[1,2],{\"k\":true}]}", LIST("\"a\"", "1", "null", "[1,2]", "{\"k\":true}"),
          LIST("\"b\"", "2", "[2,1]", "{\"k\":false}"));
    CHECK("{\"enum\":[1,2,3,4,5],\"maximum\":3}", LIST("1", "3"), LIST("4", "5"));
    CHECK("{\"enum\":[\"ab\",\"abcd\",7],\"type\":\"string\",\"minLength\":3}", LIST("\"abcd\""), LIST("\"ab\"", "7"));
    /* a string value in any JSON spelling */
    CHECK("{\"const\":\"\xc3\xa9/\"}", LIST("\"\xc3\xa9/\"", "\"\\u00e9\\/\"", "\"\\u00E9/\""), LIST("\"e/\""));
    EXPECT_ERROR("{\"const\":5,\"type\":\"integer\",\"maximum\":3}", "no JSON value satisfies");
    EXPECT_ERROR("{\"const\":null,\"type\":\"string\"}", "no JSON value satisfies");
    EXPECT_ERROR("{\"enum\":[]}", "no JSON value satisfies");
}

/* ---------------------------------------------------------------- strings */

Test(json_schema, string_lengths_count_code_points) {
    const char *s = "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}";
    CHECK(s, LIST("\"ab\"", "\"abc\"", "\"\\n\\t\"", "\"\xf0\x9f\x98\x80x\"", "\"\\ud83d\\ude00x\"", "\"\\uD83D\\uDE00ab\""),
          LIST("\"a\"", "\"abcd\"", "\"\xf0\x9f\x98\x80\"", "\"\\ud83d\\ude00\"", "\"\\ud83d\""));
    /* bounds of any size */
    CHECK("{\"type\":\"string\",\"maxLength\":1000000}", LIST("\"\"", "\"long enough\""), NONE);
    CHECK("{\"type\":\"string\",\"minLength\":100000,\"maxLength\":100001}", NONE, LIST("\"short\""));
}

Test(json_schema, pattern_and_format) {
    CHECK("{\"type\":\"string\",\"pattern\":\"^[a-z]+-[0-9]{2}$\"}", LIST("\"ab-12\"", "\"a-00\""), LIST("\"AB-12\"", "\"ab-1\"", "\"ab-123\""));
    /* unanchored: a match anywhere */
    CHECK("{\"type\":\"string\",\"pattern\":\"ab\"}", LIST("\"xaby\"", "\"ab\""), LIST("\"a b\""));
    CHECK("{\"type\":\"string\",\"format\":\"date\"}", LIST("\"2024-02-29\"", "\"1999-12-31\""),
          LIST("\"2023-02-29\"", "\"2024-13-01\"", "\"24-01-01\""));
    CHECK("{\"type\":\"string\",\"format\":\"ipv4\"}", LIST("\"192.168.0.1\""), LIST("\"256.1.1.1\"", "\"1.2.3\""));
    CHECK("{\"type\":\"string\",\"format\":\"uuid\"}", LIST("\"123e4567-e89b-12d3-a456-426614174000\""), LIST("\"123e4567\""));
    /* unknown formats are annotations */
    CHECK("{\"type\":\"string\",\"format\":\"x-my-format\"}", LIST("\"anything\""), NONE);
    /* pattern and length together */
    CHECK("{\"type\":\"string\",\"pattern\":\"^[0-9]*$\",\"maxLength\":3}", LIST("\"\"", "\"123\""), LIST("\"1234\"", "\"12a\""));
    EXPECT_ERROR("{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "pattern");
}

/* ---------------------------------------------------------------- numbers */

Test(json_schema, numeric_bounds) {
    CHECK("{\"type\":\"integer\",\"minimum\":-123,\"maximum\":4567}", LIST("-123", "0", "4567"), LIST("-124", "4568"));
    CHECK("{\"type\":\"integer\",\"minimum\":0,\"maximum\":9007199254740991}", LIST("0", "9007199254740991"),
          LIST("9007199254740992", "-1"));
    CHECK("{\"type\":\"number\",\"minimum\":0.5,\"exclusiveMaximum\":10}", LIST("0.5", "9.99", "3"), LIST("0.49", "10", "11"));
    CHECK("{\"type\":\"integer\",\"exclusiveMinimum\":true,\"minimum\":5}", LIST("6"), LIST("5"));     /* draft 4 */
    CHECK("{\"type\":\"integer\",\"multipleOf\":7,\"minimum\":1,\"maximum\":30}", LIST("7", "28"), LIST("0", "8", "35"));
    CHECK("{\"type\":\"integer\",\"not\":{\"const\":0}}", LIST("1", "-1", "10"), LIST("0"));
    CHECK("{\"type\":\"number\",\"not\":{\"type\":\"integer\"}}", LIST("1.5", "-0.25", "0.001"), LIST("1", "1.0", "0"));
}

/* ---------------------------------------------------------------- objects */

Test(json_schema, additional_properties_default_true) {
    const char *s = "{\"properties\":{\"a\":{\"type\":\"integer\"}},\"type\":\"object\"}";
    CHECK(s, LIST("{}", "{\"a\":1}", "{\"a\":1,\"b\":\"x\"}", "{\"b\":[1]}"),
          LIST("{\"a\":\"hello\"}", "{\"a\":1,\"a\":99}", "{\"b\":1,\"a\":\"x\"}", "{\"\\u0061\":\"x\"}"));
    /* strict: undeclared members are out unless the schema allows them */
    check_flags(s, VKA_JSON_SCHEMA_STRICT, LIST("{}", "{\"a\":1}"), LIST("{\"b\":1}"));
    check_flags("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}", VKA_JSON_SCHEMA_STRICT,
                LIST("{\"x\":\"y\"}"), LIST("{\"x\":1}"));
}

Test(json_schema, declared_members_in_order_and_required) {
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},"
                    "\"required\":[\"b\"],\"additionalProperties\":false}";
    CHECK(s, LIST("{\"b\":\"x\"}", "{\"a\":1,\"b\":\"x\"}"), LIST("{}", "{\"a\":1}", "{\"b\":\"x\",\"c\":1}"));
}

Test(json_schema, pattern_properties_and_property_names) {
    const char *s = "{\"type\":\"object\",\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},"
                    "\"additionalProperties\":{\"type\":\"string\"}}";
    CHECK(s, LIST("{\"x-a\":1,\"y\":\"s\"}", "{}"), LIST("{\"x-a\":\"s\"}", "{\"y\":1}"));
    CHECK("{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^[a-z]+$\",\"maxLength\":3}}",
          LIST("{\"abc\":1}", "{}"), LIST("{\"abcd\":1}", "{\"A\":1}"));
    CHECK("{\"type\":\"object\",\"propertyNames\":{\"enum\":[\"k1\",\"k2\"]}}", LIST("{\"k1\":1,\"k2\":null}"),
          LIST("{\"k3\":1}"));
}

Test(json_schema, member_counts_and_dependencies) {
    CHECK("{\"type\":\"object\",\"minProperties\":1,\"maxProperties\":2}", LIST("{\"a\":1}", "{\"a\":1,\"b\":2}"),
          LIST("{}", "{\"a\":1,\"b\":2,\"c\":3}"));
    /* counts met by declared members only (no undeclared ones allowed) */
    CHECK("{\"type\":\"object\",\"properties\":{\"a\":{},\"b\":{}},\"additionalProperties\":false,\"minProperties\":1,"
          "\"maxProperties\":3}", LIST("{\"a\":1}", "{\"a\":1,\"b\":2}"), LIST("{}"));
    const char *s = "{\"type\":\"object\",\"properties\":{\"card\":{},\"billing\":{}},"
                    "\"dependentRequired\":{\"card\":[\"billing\"]},\"additionalProperties\":false}";
    CHECK(s, LIST("{}", "{\"billing\":1}", "{\"card\":1,\"billing\":2}"), LIST("{\"card\":1}"));
    CHECK("{\"type\":\"object\",\"dependencies\":{\"a\":[\"b\"]}}", LIST("{\"a\":1,\"b\":2}", "{\"b\":2}"), LIST("{\"a\":1}"));
}

/* ---------------------------------------------------------------- arrays */

static void expect_annotation(const char *schema, const char *lines) {
    char *gbnf = NULL;
    cr_assert_eq(vka_json_schema_convert(schema, 0, &gbnf, NULL), VKA_OK, "schema %s: %s", schema, vka_last_error());
    cr_expect(strstr(gbnf, lines) != NULL, "schema %s\nwanted annotations:\n%s\ngrammar:\n%s", schema, lines, gbnf);
    free(gbnf);
}

Test(json_schema, arrays) {
    CHECK("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":1,\"maxItems\":3}", LIST("[1]", "[1,2,3]"),
          LIST("[]", "[1,2,3,4]", "[\"a\"]"));
    CHECK("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}",
          LIST("[]", "[\"a\"]", "[\"a\",1]"), LIST("[1]", "[\"a\",1,2]"));
    CHECK("{\"type\":\"array\",\"items\":[{\"type\":\"string\"}],\"additionalItems\":{\"type\":\"integer\"}}",  /* draft 4-7 */
          LIST("[\"a\",1,2]", "[]"), LIST("[1]", "[\"a\",\"b\"]"));
    CHECK("{\"type\":\"array\",\"contains\":{\"const\":5}}", LIST("[5]", "[1,5,2]", "[5,5]"), LIST("[]", "[1,2]"));
    CHECK("{\"type\":\"array\",\"contains\":{\"const\":5},\"minContains\":2,\"maxContains\":2,\"items\":{\"type\":\"integer\"}}",
          LIST("[5,5]", "[1,5,2,5]"), LIST("[5]", "[5,5,5]"));
    CHECK("{\"type\":\"array\",\"maxItems\":100000}", LIST("[]", "[1,[2],{}]"), NONE);
    CHECK("{\"type\":\"array\",\"uniqueItems\":true,\"maxItems\":1}", LIST("[]", "[1]"), LIST("[1,1]"));
    /* elements from an unbounded set: the grammar admits the array, the
     * runtime (sampler and checker) enforces uniqueness at the annotated paths */
    expect_annotation("{\"type\":\"array\",\"uniqueItems\":true}", "# vka:unique []");
    expect_annotation("{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
                      "\"uniqueItems\":true}},\"additionalProperties\":{\"type\":\"array\",\"items\":{\"type\":\"array\","
                      "\"uniqueItems\":true}}}",
                      "# vka:unique [\"tags\"]\n# vka:unique [null,null]");
    EXPECT_ERROR("{\"$defs\":{\"t\":{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"$ref\":\"#/$defs/t\"}}},"
                 "\"$ref\":\"#/$defs/t\"}", "recursive");
    CHECK("{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"enum\":[\"r\",\"g\",\"b\"]},\"minItems\":2}",
          LIST("[\"r\",\"g\"]", "[\"b\",\"g\",\"r\"]"), LIST("[\"r\"]", "[\"r\",\"r\"]", "[\"r\",\"g\",\"r\"]"));
    CHECK("{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"type\":\"boolean\"}}", LIST("[]", "[true,false]"),
          LIST("[true,true]"));
    /* contains beside prefixItems; counts that must still be reachable */
    CHECK("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"}],\"items\":{\"type\":\"integer\"},\"contains\":{\"type\":\"integer\"}}",
          LIST("[\"a\",1]", "[\"a\",1,2]"), LIST("[\"a\"]", "[1]"));
    CHECK("{\"type\":\"array\",\"maxItems\":3,\"contains\":{\"const\":1},\"minContains\":2}", LIST("[1,1]", "[1,0,1]"),
          LIST("[0,0,1]", "[1,0,0,1]"));
}

/* ---------------------------------------------------------------- combinators */

Test(json_schema, any_of_one_of_all_of) {
    CHECK("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", LIST("\"a\"", "1"), LIST("null"));
    CHECK("{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"a\"},\"x\":{\"type\":\"integer\"}},\"required\":[\"kind\"]},"
          "{\"type\":\"object\",\"properties\":{\"kind\":{\"const\":\"b\"}},\"required\":[\"kind\"]}]}",
          LIST("{\"kind\":\"a\",\"x\":1}", "{\"kind\":\"b\"}"), LIST("{\"kind\":\"c\"}", "{\"kind\":\"a\",\"x\":\"s\"}"));
    /* overlapping members are made exclusive: exactly one must match */
    CHECK("{\"type\":\"object\",\"oneOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}",
          LIST("{\"a\":1}", "{\"b\":1}", "{\"b\":1,\"c\":2}"), LIST("{\"a\":1,\"b\":2}", "{}"));
    CHECK("{\"oneOf\":[{\"enum\":[1,2,3]},{\"enum\":[3,4]}]}", LIST("1", "4"), LIST("3", "5"));
    CHECK("{\"oneOf\":[{\"type\":\"string\"},{\"maxLength\":3}]}", LIST("\"abcd\"", "5", "null"), LIST("\"abc\""));
    /* unless the exclusion cannot be written exactly */
    EXPECT_ERROR("{\"oneOf\":[{\"type\":\"integer\"},{\"multipleOf\":3}]}", "oneOf");
    check_flags("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", VKA_JSON_SCHEMA_ONEOF_AS_ANYOF, LIST("1", "-1"), NONE);
    CHECK("{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},"
          "{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}",
          LIST("{\"a\":1,\"b\":\"x\"}"), LIST("{\"a\":1}", "{\"b\":\"x\"}", "{\"a\":\"x\",\"b\":\"x\"}"));
    CHECK("{\"allOf\":[{\"minimum\":0},{\"maximum\":10}],\"type\":\"integer\"}", LIST("0", "10"), LIST("-1", "11"));
}

Test(json_schema, not_and_conditionals) {
    CHECK("{\"not\":{\"type\":\"string\"}}", LIST("1", "null", "[]"), LIST("\"s\""));
    CHECK("{\"type\":\"string\",\"not\":{\"enum\":[\"a\",\"b\"]}}", LIST("\"c\"", "\"ab\""), LIST("\"a\"", "\"b\""));
    CHECK("{\"type\":\"object\",\"not\":{\"required\":[\"x\"]}}", LIST("{}", "{\"y\":1}"), LIST("{\"x\":1}"));
    const char *s = "{\"type\":\"object\",\"properties\":{\"kind\":{\"enum\":[\"a\",\"b\"]},\"n\":{}},\"required\":[\"kind\"],"
                    "\"if\":{\"properties\":{\"kind\":{\"const\":\"a\"}}},\"then\":{\"properties\":{\"n\":{\"type\":\"integer\"}}},"
                    "\"else\":{\"properties\":{\"n\":{\"type\":\"string\"}}}}";
    CHECK(s, LIST("{\"kind\":\"a\",\"n\":1}", "{\"kind\":\"b\",\"n\":\"s\"}"), LIST("{\"kind\":\"a\",\"n\":\"s\"}", "{\"kind\":\"b\",\"n\":1}"));
}

/* Combinations whose members pin a required member to values that do not
 * meet are skipped unbuilt (json_schema_prune.c): the language stays the same,
 * and combinations that only look alike (the member not required, values that
 * meet, values of other types) are kept. */
Test(json_schema, conflicting_pins_skip_combinations_exactly) {
    const char *s = "{\"type\":\"object\",\"properties\":{\"kind\":{\"enum\":[\"a\",\"b\",\"c\"]}},\"allOf\":["
                    "{\"if\":{\"properties\":{\"kind\":{\"const\":\"a\"}}},"
                    "\"then\":{\"properties\":{\"kind\":{\"const\":\"a\"},\"x\":{\"type\":\"integer\"}},\"required\":[\"kind\",\"x\"]}},"
                    "{\"if\":{\"properties\":{\"kind\":{\"const\":\"b\"}}},"
                    "\"then\":{\"properties\":{\"kind\":{\"const\":\"b\"},\"y\":{\"type\":\"string\"}},\"required\":[\"kind\",\"y\"]}},"
                    "{\"if\":{\"properties\":{\"kind\":{\"const\":\"c\"}}},\"then\":{\"required\":[\"z\"]}}]}";
    CHECK(s, LIST("{\"kind\":\"a\",\"x\":1}", "{\"kind\":\"b\",\"y\":\"s\"}", "{\"kind\":\"c\",\"z\":null}"),
          LIST("{}", "{\"kind\":\"a\",\"y\":\"s\"}", "{\"kind\":\"b\",\"x\":1}", "{\"kind\":\"c\"}", "{\"kind\":\"d\"}"));
    /* kind not required: an object without it meets both conditions */
    CHECK("{\"type\":\"object\",\"allOf\":[{\"if\":{\"properties\":{\"kind\":{\"const\":\"a\"}}},\"then\":{\"required\":[\"x\"]}},"
          "{\"if\":{\"properties\":{\"kind\":{\"const\":\"b\"}}},\"then\":{\"required\":[\"y\"]}}]}",
          LIST("{\"x\":1,\"y\":2}", "{\"kind\":\"a\",\"x\":1}", "{\"kind\":\"c\"}"), LIST("{}", "{\"x\":1}", "{\"kind\":\"a\"}"));
    /* not only objects: other values satisfy required and properties (an
     * integer meets both oneOf members) */
    CHECK("{\"anyOf\":[{\"properties\":{\"k\":{\"const\":1}},\"required\":[\"k\"]},{\"type\":\"string\"}],"
          "\"oneOf\":[{\"properties\":{\"k\":{\"const\":2}},\"required\":[\"k\"]},{\"type\":\"integer\"}]}",
          LIST("\"s\"", "null", "1.5"), LIST("5", "{\"k\":1}", "{\"k\":2}"));
    /* pins that meet: enums sharing a value, numbers equal by value */
    CHECK("{\"type\":\"object\",\"required\":[\"k\"],\"anyOf\":[{\"properties\":{\"k\":{\"enum\":[\"a\",\"b\"]}}},{\"required\":[\"q\"]}],"
          "\"oneOf\":[{\"properties\":{\"k\":{\"enum\":[\"b\",\"c\"]}}},{\"properties\":{\"k\":{\"const\":1.0}}}]}",
          LIST("{\"k\":\"b\"}", "{\"k\":1,\"q\":0}", "{\"k\":\"c\",\"q\":0}"), LIST("{\"k\":\"a\"}", "{\"k\":1}", "{\"k\":\"c\"}"));
    /* a member that may not be present, required by another */
    CHECK("{\"type\":\"object\",\"anyOf\":[{\"properties\":{\"k\":false}},{\"required\":[\"j\"]}],"
          "\"oneOf\":[{\"required\":[\"k\"]},{\"properties\":{\"k\":{\"const\":0}}}]}",
          LIST("{\"j\":0,\"k\":1}", "{}"), LIST("{\"k\":1}", "{\"k\":0}", "{\"j\":0,\"k\":0}"));
}

Test(json_schema, refs) {
    const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                       "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"],"
                       "\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}";
    CHECK(tree, LIST("{\"v\":1}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]}]}"), LIST("{\"v\":1,\"kids\":[{}]}"));
    CHECK("{\"definitions\":{\"a\":{\"type\":\"integer\"}},\"properties\":{\"x\":{\"$ref\":\"#/definitions/a\",\"minimum\":3}},"
          "\"type\":\"object\"}",
          LIST("{\"x\":3}"), LIST("{\"x\":2}", "{\"x\":\"s\"}"));
    CHECK("{\"$id\":\"https://example.com/root.json\",\"$defs\":{\"a\":{\"$id\":\"a.json\",\"type\":\"string\"},"
          "\"b\":{\"$anchor\":\"bee\",\"type\":\"boolean\"}},\"type\":\"array\",\"prefixItems\":[{\"$ref\":\"a.json\"},"
          "{\"$ref\":\"#bee\"}]}",
          LIST("[\"s\",true]"), LIST("[1,true]", "[\"s\",1]"));
    EXPECT_ERROR("{\"$ref\":\"https://example.com/other.json\"}", "not in this document");
    EXPECT_ERROR("{\"$ref\":\"#/$defs/missing\"}", "does not point to anything");
}

/* ---------------------------------------------------------------- keywords */

Test(json_schema, annotations_and_extensions_are_ignored) {
    CHECK("{\"type\":\"integer\",\"x-kubernetes-group-version-kind\":[{\"group\":\"\"}],\"example\":5,\"readonly\":true,"
          "\"links\":[],\"id\":\"old\",\"esriDocumentation\":{},\"description\":\"d\",\"deprecated\":true}",
          LIST("5"), LIST("\"5\""));
}

Test(json_schema, unsupported_keywords_name_their_pointer) {
    EXPECT_ERROR("{\"type\":\"object\",\"properties\":{\"a\":{\"unevaluatedProperties\":false,\"properties\":{\"b\":{}}}}}",
                 "#/properties/a/unevaluatedProperties");
    /* lenient: ignored, with a warning */
    char *gbnf = NULL, *warnings = NULL;
    cr_assert_eq(vka_json_schema_convert("{\"type\":\"object\",\"unevaluatedProperties\":false}", VKA_JSON_SCHEMA_LENIENT,
                                         &gbnf, &warnings),
                 VKA_OK, "%s", vka_last_error());
    cr_expect(warnings && strstr(warnings, "unevaluatedProperties"), "warnings: %s", warnings ? warnings : "(none)");
    free(gbnf);
    free(warnings);
}

/* ---------------------------------------------------------------- issue 10 audit cases */

Test(json_schema, audit_no_size_limits) {
    /* six optional parameters */
    CHECK("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"},\"c\":{\"type\":\"boolean\"},"
          "\"d\":{\"type\":\"number\"},\"e\":{\"type\":\"string\"},\"f\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
          LIST("{}", "{\"a\":\"x\",\"f\":1}", "{\"a\":\"x\",\"b\":1,\"c\":true,\"d\":1.5,\"e\":\"y\",\"f\":2}"), LIST("{\"f\":1,\"a\":\"x\"}"));
    /* an enum of 50 values, a 600-character const, 15 required members */
    char schema[8192], doc[2048];
    int n = snprintf(schema, sizeof schema, "{\"enum\":[");
    for (int i = 0; i < 50; i++) n += snprintf(schema + n, sizeof schema - (size_t)n, "%s\"value-%d\"", i ? "," : "", i);
    snprintf(schema + n, sizeof schema - (size_t)n, "]}");
    CHECK(schema, LIST("\"value-37\""), LIST("\"value-50\""));
    char big[700];
    memset(big, 'q', 600);
    big[600] = 0;
    snprintf(schema, sizeof schema, "{\"const\":\"%s\"}", big);
    snprintf(doc, sizeof doc, "\"%s\"", big);
    CHECK(schema, LIST(doc), LIST("\"q\""));
    n = snprintf(schema, sizeof schema, "{\"type\":\"object\",\"properties\":{");
    int d = snprintf(doc, sizeof doc, "{");
    for (int i = 0; i < 15; i++) {
        n += snprintf(schema + n, sizeof schema - (size_t)n, "%s\"p%d\":{\"type\":\"integer\"}", i ? "," : "", i);
        d += snprintf(doc + d, sizeof doc - (size_t)d, "%s\"p%d\":%d", i ? "," : "", i, i);
    }
    n += snprintf(schema + n, sizeof schema - (size_t)n, "},\"required\":[");
    for (int i = 0; i < 15; i++) n += snprintf(schema + n, sizeof schema - (size_t)n, "%s\"p%d\"", i ? "," : "", i);
    snprintf(schema + n, sizeof schema - (size_t)n, "]}");
    snprintf(doc + d, sizeof doc - (size_t)d, "}");
    CHECK(schema, LIST(doc), LIST("{\"p0\":0}"));
}

Test(json_schema, audit_repeated_and_mistyped_members) {
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":true}";
    CHECK(s, LIST("{\"a\":1,\"b\":\"x\"}"), LIST("{\"a\":\"hello\"}", "{\"a\":1,\"a\":99}"));
}

Test(json_schema, whitespace_options) {
    const char *s = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\"}},\"required\":[\"a\"]}";
    check_flags(s, VKA_JSON_SCHEMA_FLEXIBLE_WS, LIST("{\"a\":[]}", "{\n  \"a\": [\n    1,\n    2\n  ]\n}", " {\"a\" :[ ] } "), LIST("{\"a\":[1,]}"));
    CHECK(s, LIST("{\"a\":[1,2]}"), LIST("{ \"a\":[]}"));
}

Test(json_schema, invalid_schemas) {
    EXPECT_ERROR("{\"type\":", "not valid JSON");
    EXPECT_ERROR("{\"type\":\"strin\"}", "unknown type 'strin'");
    EXPECT_ERROR("{\"type\":\"string\",\"minLength\":\"3\"}", "minLength");
    EXPECT_ERROR("false", "no JSON value satisfies");
    EXPECT_ERROR("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "no JSON value satisfies");
    char *out = NULL;
    cr_expect_eq(vka_json_schema_to_gbnf(NULL, &out), VKA_ERR_INVALID_ARGUMENT);
}

Test(json_schema, any_json_grammar) {
    for (int ws = 0; ws < 3; ws++) {
        vka_grammar *g = NULL;
        const char *text = vka_json_any_gbnf_ws((vka_json_ws)ws);
        cr_assert_not_null(text);
        cr_assert_eq(vka_grammar_parse(text, NULL, &g), VKA_OK, "%s", vka_last_error());
        cr_expect(full_match(g, "{\"a\":[1,2.5,\"x\",null,true,{}]}"));
        cr_expect(!full_match(g, "{\"a\":}"));
        vka_grammar_free(g);
    }
}
