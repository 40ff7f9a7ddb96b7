/* peerheap's own free(): what lets `replay --gc-model` keep freed blocks
 * allocated (lib/replay/gcmodel.h explains why only the program can). */
#ifndef PH_TOOL_FREESHIM_H
#define PH_TOOL_FREESHIM_H

#include "gcmodel.h"

/* The interposer of this executable, or NULL when it has none (sanitizer
 * builds, where the sanitizer owns malloc and free). */
const ph_free_interposer *ph_tool_free_interposer(void);

#endif
