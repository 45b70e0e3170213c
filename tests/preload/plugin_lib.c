// Built with trapsan-cc -c (compiler plugin) into a shared library that is
// NOT linked with the runtime: its __trapsan_* references are resolved from
// a preloaded libtrapsan.so (tests/preload, PreloadTest.PluginBuiltNotLinked).
long lib_counter;

__attribute__((noinline)) void lib_bump(void) { lib_counter++; }
