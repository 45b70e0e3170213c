#include "sync_state.h"

extern "C" {
// Starts even (inside): a thread is outside only once trapsan has seen it
// enter instrumented code from its start.
__attribute__((visibility("default"), tls_model("initial-exec")))
__thread uint64_t __trapsan_sync_state;
}
