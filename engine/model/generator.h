/* generator.h — internals of step-wise generation shared with vka_generate. */
#ifndef VKA_GENERATOR_H
#define VKA_GENERATOR_H

#include "vkagent.h"

/* Moves the emitted text out of the generator (malloc'ed, NUL-terminated). */
char *vka_generator_take_text(vka_generator *g, size_t *len);

/* The session is being freed under an open generator: the generation ends
 * (cancelled) and later steps fail instead of touching freed memory. */
void vka_generator_detach(vka_generator *g);

#endif
