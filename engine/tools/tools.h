/* tools.h — the engine internals that the command-line tools need beyond
 * the public API (vkagent.h), in one place: `vkagent bench` and
 * `bench --grammar` (the vocabulary, samplers and the grammar sampler
 * timed directly), `quantize` (the GGUF writer and quantizer), `synth`
 * (random-weight models), `info` (GGUF metadata and tensors), and
 * `grammar` (GBNF checking and sampling walks over the vocabulary).
 *
 * For the tools in cli/ alone (tests/check_layers.py holds every other
 * file of cli/ and lua/ to the public headers). It is not installed and
 * carries no stability promise: what it exposes changes with the engine. */
#ifndef VKA_TOOLS_H
#define VKA_TOOLS_H

#include "vkagent.h"

#include "base/status.h"
#include "base/utf8.h"
#include "format/gguf.h"
#include "format/quantize.h"
#include "text/vocab.h"
#include "structured/grammar.h"
#include "structured/vocab_grammar.h"
#include "sampling/sampler.h"
#include "sampling/sampler_grammar.h"
#include "model/model.h"
#include "model/synth.h"

#endif
