/* Runs registers_site.c's two functions, linked in (the program itself, or
 * a shared library it links) or, built with -DREGISTERS_DLOPEN, from the
 * library argv[2] dlopen()ed (RTLD_LAZY). argv[1] says which runs first:
 * "loop" (a single-block loop's calling site) or "check" (a multi-block
 * loop's region check); the first is the object's first call of
 * __trapsan_site, when a PLT entry would have been bound lazily. Nothing
 * here is instrumented. Prints:
 *   LD_BIND_NOW=<unset|value>
 *   CLOBBERED <function> <register> got=... want=...   (each lost value)
 *   <LOOP|CHECK>_CLOBBERED=<registers lost>  <..>_EXPIRED=<site expiries>
 * and exits 0 when nothing was lost and each function's site expired. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trapsan/annotations.h>

void __trapsan_testonly_last_site_sample(uint64_t out[7]);

#ifndef REGISTERS_DLOPEN
int RegistersAcrossLoopSite(int n);
int RegistersAcrossLoopCheck(int n);
#endif

typedef int (*Function)(int);

/* Expiries of calling sites and checks on this thread so far. */
TRAPSAN_NO_INSTRUMENT static uint64_t Expiries(void) {
  uint64_t sample[7];
  __trapsan_testonly_last_site_sample(sample);
  return sample[5];
}

TRAPSAN_NO_INSTRUMENT static int Run(const char* name, Function f) {
  const uint64_t before = Expiries();
  const int clobbered = f(16);
  const uint64_t expired = Expiries() - before;
  printf("%s_CLOBBERED=%d\n%s_EXPIRED=%llu\n", name, clobbered, name,
         (unsigned long long)expired);
  fflush(stdout);
  return clobbered == 0 && expired >= 1;
}

TRAPSAN_NO_INSTRUMENT int main(int argc, char** argv) {
  const char* bind_now = getenv("LD_BIND_NOW");
  printf("LD_BIND_NOW=%s\n", bind_now != NULL ? bind_now : "unset");
  if (argc < 2) return 2;
  Function loop, check;
#ifdef REGISTERS_DLOPEN
  if (argc < 3) return 2;
  void* lib = dlopen(argv[2], RTLD_LAZY | RTLD_LOCAL);
  if (lib == NULL) {
    printf("DLOPEN_FAILED %s\n", dlerror());
    return 3;
  }
  loop = (Function)dlsym(lib, "RegistersAcrossLoopSite");
  check = (Function)dlsym(lib, "RegistersAcrossLoopCheck");
  if (loop == NULL || check == NULL) return 3;
#else
  loop = RegistersAcrossLoopSite;
  check = RegistersAcrossLoopCheck;
#endif
  int ok;
  if (strcmp(argv[1], "loop") == 0)
    ok = Run("LOOP", loop) & Run("CHECK", check);
  else
    ok = Run("CHECK", check) & Run("LOOP", loop);
  return ok ? 0 : 1;
}
