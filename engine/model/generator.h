/* generator.h — internals of step-wise generation shared with vka_generate. */
#ifndef VKA_GENERATOR_H
#define VKA_GENERATOR_H

#include "vkagent.h"

/* Moves the emitted text out of the generator (malloc'ed, NUL-terminated). */
char *vka_generator_take_text(vka_generator *g, size_t *len);

#endif
