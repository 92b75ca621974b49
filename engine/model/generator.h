/* generator.h — internals of step-wise generation shared with vka_generate. */
#ifndef VKA_GENERATOR_H
#define VKA_GENERATOR_H

#include "vkagent.h"

/* Moves the emitted text out of the generator (malloc'ed, NUL-terminated). */
char *vka_generator_take_text(vka_generator *g, size_t *len);

/* The session is being freed under an open generator: the generation ends
 * (cancelled) and later steps fail instead of touching freed memory. */
void vka_generator_detach(vka_generator *g);

/* For the scheduler (scheduler_step.c), one step of a generator in three
 * parts. _begin queues the prompt (first step) or runs the checks that need
 * no logits; *go_on says whether the generator wants a token this step.
 * _sample samples from the session's fresh logits, adding the step's
 * forward time. _fail ends it with an error. Errors end the generator and
 * stay in vka_generator_status. */
vka_status vka_generator_sched_begin(vka_generator *g, bool *go_on);
vka_status vka_generator_sched_sample(vka_generator *g, double seconds, bool prompt);
void vka_generator_sched_fail(vka_generator *g, vka_status st);
/* Adds the time of a forward pass that advanced g's prompt without sampling. */
void vka_generator_sched_time(vka_generator *g, double seconds, bool prompt);

#endif
