/* test_structured_check.c — the model-free checker (vka_structured_checker):
 * whole documents under a GBNF grammar, a JSON Schema or any JSON, argument
 * checks, errors, and independence of successive documents. */
#include <criterion/criterion.h>
#include <string.h>

#include "test_util.h"
#include "vkagent.h"

#define VKA_TEST_LIMIT_DOC 12000 /* x's: above the matcher's 10000 simultaneous stacks */

static vka_structured_checker *make_checker(const vka_sampling_params *sp) {
    vka_structured_checker *c = NULL;
    cr_assert_eq(vka_structured_checker_create(sp, &c), VKA_OK, "%s", vka_last_error());
    cr_assert_not_null(c);
    return c;
}

/* A checker for a GBNF grammar (root NULL: "root"). */
static vka_structured_checker *grammar_checker(const char *gbnf, const char *root) {
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    sp.grammar = gbnf;
    sp.grammar_root = root;
    return make_checker(&sp);
}

static bool check(vka_structured_checker *c, const char *doc) {
    bool accepted = true;
    cr_assert_eq(vka_structured_check(c, doc, strlen(doc), &accepted), VKA_OK, "%s: %s", doc, vka_last_error());
    return accepted;
}

Test(structured_check, gbnf_whole_documents_only) {
    vka_structured_checker *c = grammar_checker("root ::= \"ab\" [0-9]{1,3}\n", NULL);
    cr_expect(check(c, "ab1"));
    cr_expect(check(c, "ab123"));
    cr_expect(!check(c, "ab"), "a prefix is not a complete document");
    cr_expect(!check(c, "ab1234"), "a byte past the grammar's end");
    cr_expect(!check(c, "xab1"));
    cr_expect(!check(c, ""), "the empty document");
    cr_expect(check(c, "ab9"), "a rejected document leaves no trace on the next");
    vka_structured_checker_free(c);
}

Test(structured_check, grammar_root_is_used) {
    vka_structured_checker *c = grammar_checker("root ::= \"a\"\nother ::= \"b\"\n", "other");
    cr_expect(check(c, "b"));
    cr_expect(!check(c, "a"));
    vka_structured_checker_free(c);
}

Test(structured_check, json_schema) {
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    sp.json_schema = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"],"
                     "\"additionalProperties\":false}";
    vka_structured_checker *c = make_checker(&sp);
    cr_expect(check(c, "{\"n\":12}"));
    cr_expect(!check(c, "{\"n\":\"12\"}"));
    cr_expect(!check(c, "{}"));
    cr_expect(!check(c, "{\"n\":1"), "cut off");
    vka_structured_checker_free(c);
}

Test(structured_check, any_json) {
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    sp.json = true;
    vka_structured_checker *c = make_checker(&sp);
    cr_expect(check(c, "[1,{\"a\":null},\"x\"]"));
    cr_expect(check(c, "true"));
    cr_expect(!check(c, "[1,]"));
    cr_expect(!check(c, "{'a':1}"));
    vka_structured_checker_free(c);
}

Test(structured_check, bytes_not_strings) {
    /* The length is what counts: a NUL inside is a byte of the document,
     * and a document may end inside a UTF-8 character (then it is incomplete). */
    vka_structured_checker *c = grammar_checker("root ::= \"a\" [^b]* \"z\"\n", NULL);
    bool ok = false;
    cr_assert_eq(vka_structured_check(c, "a\xc3\xa9z", 4, &ok), VKA_OK);
    cr_expect(ok);
    cr_assert_eq(vka_structured_check(c, "a\xc3\xa9z", 2, &ok), VKA_OK);
    cr_expect(!ok, "a lone lead byte");
    cr_assert_eq(vka_structured_check(c, "az and more", 2, &ok), VKA_OK);
    cr_expect(ok, "only len bytes are read");
    cr_assert_eq(vka_structured_check(c, "a\0z", 3, &ok), VKA_OK);
    cr_expect(ok, "a NUL is a character like any other");
    cr_assert_eq(vka_structured_check(c, "a\xc3z", 3, &ok), VKA_OK);
    cr_expect(!ok, "invalid UTF-8");
    vka_structured_checker_free(c);
}

Test(structured_check, errors) {
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    vka_structured_checker *c = (vka_structured_checker *)&sp;
    cr_expect_eq(vka_structured_checker_create(&sp, &c), VKA_ERR_INVALID_ARGUMENT, "no constraint at all");
    cr_expect_null(c);
    cr_expect_eq(vka_structured_checker_create(NULL, &c), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_structured_checker_create(&sp, NULL), VKA_ERR_INVALID_ARGUMENT);

    sp.grammar = "root ::= (\"a\"\n";
    cr_expect_eq(vka_structured_checker_create(&sp, &c), VKA_ERR_GRAMMAR);
    cr_expect_null(c);

    sp.grammar = NULL;
    sp.json_schema = "{\"type\":\"no such type\"}";
    cr_expect_eq(vka_structured_checker_create(&sp, &c), VKA_ERR_GRAMMAR);
    cr_expect(strstr(vka_last_error(), "JSON schema") != NULL, "%s", vka_last_error());

    sp.json_schema = "{not json";
    cr_expect_eq(vka_structured_checker_create(&sp, &c), VKA_ERR_GRAMMAR);

    sp.json_schema = NULL;
    sp.json = true;
    c = make_checker(&sp);
    bool ok;
    cr_expect_eq(vka_structured_check(NULL, "1", 1, &ok), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_structured_check(c, NULL, 1, &ok), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_structured_check(c, "1", 1, NULL), VKA_ERR_INVALID_ARGUMENT);
    cr_expect_eq(vka_structured_check(c, NULL, 0, &ok), VKA_OK, "an empty document may have no buffer");
    cr_expect(!ok);
    vka_structured_checker_free(c);
    vka_structured_checker_free(NULL);
}

Test(structured_check, matcher_limit_is_an_error_not_a_verdict) {
    /* After n x's every count of pending y's is alive: n + 1 parse stacks,
     * more than the matcher allows, is reported as an error, never as a verdict. */
    vka_structured_checker *c = grammar_checker("root ::= s\ns ::= \"x\" s \"y\" | \"x\" s | \"\"\n", NULL);
    static char doc[VKA_TEST_LIMIT_DOC];
    memset(doc, 'x', sizeof doc);
    bool ok = true;
    cr_expect_eq(vka_structured_check(c, doc, sizeof doc, &ok), VKA_ERR_GRAMMAR, "%s", vka_last_error());
    cr_expect(!ok, "no verdict on an error");
    cr_expect(check(c, "xxy"), "the checker still works afterwards");
    vka_structured_checker_free(c);
}

/* uniqueItems the grammar cannot express: "# vka:unique" annotations (engine/structured/json_unique.h) */
#define UNIQUE_STRINGS                                                     \
    "root ::= \"{\\\"tags\\\":\" arr \",\\\"free\\\":\" arr \"}\"\n"        \
    "arr ::= \"[\" ( str ( \",\" \" \"? str )* )? \"]\"\n"                   \
    "str ::= \"\\\"\" ( [a-z] | \"\\\\u00\" [0-9a-f] [0-9a-f] )* \"\\\"\"\n"

Test(structured_check, unique_annotations) {
    vka_structured_checker *c = grammar_checker(UNIQUE_STRINGS "# vka:unique [\"tags\"]\n", NULL);
    cr_expect(check(c, "{\"tags\":[\"a\",\"b\"],\"free\":[\"a\",\"a\"]}"), "only tags is annotated");
    cr_expect(!check(c, "{\"tags\":[\"a\",\"b\", \"a\"],\"free\":[]}"));
    cr_expect(!check(c, "{\"tags\":[\"a\",\"\\u0061\"],\"free\":[]}"), "equal once decoded");
    cr_expect(check(c, "{\"tags\":[\"a\",\"\\u0062\"],\"free\":[]}"));
    cr_expect(!check(c, "{\"tags\":[\"A\",\"a\"],\"free\":[]}"), "the grammar still decides first");
    cr_expect(!check(c, "{\"tags\":[\"a\",\"b\"]"), "cut off");
    cr_expect(check(c, "{\"tags\":[],\"free\":[]}"));
    vka_structured_checker_free(c);
    c = grammar_checker(UNIQUE_STRINGS, NULL);
    cr_expect(check(c, "{\"tags\":[\"a\",\"a\"],\"free\":[]}"), "without the annotation repeats are fine");
    vka_structured_checker_free(c);
}

Test(structured_check, malformed_unique_annotation) {
    vka_sampling_params sp;
    vka_sampling_params_default(&sp);
    sp.grammar = UNIQUE_STRINGS "# vka:unique [\"tags\", true]\n";
    vka_structured_checker *c = NULL;
    cr_expect_eq(vka_structured_checker_create(&sp, &c), VKA_ERR_GRAMMAR);
    cr_expect_null(c);
    cr_expect(strstr(vka_last_error(), "line 4") != NULL, "%s", vka_last_error());
}
