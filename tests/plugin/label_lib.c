/* An instrumented library for label_dlopen.c: built by trapsan-cc -shared,
 * loaded with dlopen() by a program that has no label sites of its own. */
long g_lib_cells[64];

__attribute__((noinline)) void lib_store(int i) { g_lib_cells[i & 63] = i; }

long* lib_cells(void) { return g_lib_cells; }
