/* hello.c — the smallest C program over vkagent.h: load a model, open a
 * session, print a short greedy continuation of a prompt.
 *
 *     cc hello.c $(pkg-config --cflags --libs vkagent) -o hello
 *     VKAGENT_DEVICE=cpu ./hello stories260K.gguf "Once upon a time"
 */
#include <stdio.h>

#include <vkagent.h>

static bool print_piece(const char *piece, size_t len, int32_t token, void *user) {
    (void)token;
    (void)user;
    fwrite(piece, 1, len, stdout);
    return true;   /* false would stop the generation */
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [PROMPT]\n", argv[0]);
        return 2;
    }
    const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
    vka_model *model = NULL;
    if (vka_model_load(argv[1], NULL, &model) != VKA_OK) {
        fprintf(stderr, "hello: %s\n", vka_last_error());
        return 1;
    }
    vka_session *session = NULL;
    if (vka_session_create(model, NULL, &session) != VKA_OK) {
        fprintf(stderr, "hello: %s\n", vka_last_error());
        vka_model_free(model);
        return 1;
    }
    vka_generate_params gp;
    vka_generate_params_default(&gp);
    gp.max_tokens = 24;
    gp.sampling.temperature = 0.0f;   /* greedy: the same text every run */
    gp.on_piece = print_piece;
    vka_generate_result result;
    vka_status st = vka_generate(session, prompt, &gp, &result);
    if (st == VKA_OK) printf("\n[%u tokens]\n", (unsigned)result.n_generated);
    else fprintf(stderr, "hello: %s\n", vka_last_error());
    vka_generate_result_clear(&result);
    vka_session_free(session);
    vka_model_free(model);
    return st == VKA_OK ? 0 : 1;
}
