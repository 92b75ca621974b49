/* context_shift.h — dropping tokens from the middle of a session's context
 * (the public vka_session_shift and the generator's automatic shift). */
#ifndef VKA_CONTEXT_SHIFT_H
#define VKA_CONTEXT_SHIFT_H

#include "model/scheduler.h"

/* vka_session_shift without the check that no generator is open: the
 * generator itself calls it when its context fills. */
vka_status vka_session_shift_kv(vka_session *s, uint32_t n_keep, uint32_t n_discard);

#endif
