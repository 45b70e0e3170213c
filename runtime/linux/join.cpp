// pthread_join, interposed: the joining thread's held windows (release.h)
// may stay open across the join (docs/design.md, "Windows across join and
// thread exit").
//
// A race of the kind ThreadSanitizer's tests are made of: the main thread
// writes X, meets the other thread at a barrier of relaxed atomics, and
// joins it; the other thread, past the barrier, touches X and returns. The
// two accesses are unordered (nothing the main thread does after its write
// and before the other's access is a release), but the main thread's
// window, held since its write, closed at the call of pthread_join (a call
// into uninstrumented code is a possible release), usually before the other
// thread got there.
//
// pthread_join is no release of the caller: POSIX makes it synchronize with
// the joined thread's end, in one direction (everything the joined thread
// did happens before the join returns); nothing the caller did before the
// join is made visible to any thread by it. So the compiler plugin places no
// release point before a call of pthread_join (compiler-plugin/
// ReleasePoints.cpp), and here the caller's windows go on being held while
// it waits, and after (its next release point closes them, as any other).
//
// What the join does besides: glibc frees the joined thread's stack block
// (its stack, static TLS and descriptor: into the stack cache, reused by a
// later pthread_create) and its dynamic TLS blocks (free()). Freeing and
// reusing memory orders the old object's accesses before the new one's
// (through the allocator's locks): a window on such memory must close before
// the join, or a new thread's first use of a reused stack would be reported.
// So the windows kept across the join are only those on static storage (the
// writable segments of loaded objects: globals, which a join never frees),
// on the caller's own stack and on the caller's own TLS blocks (ThreadSanitizer's
// tls_race: main's __thread variable written by the joined thread); the
// others close first.
//
// A cancellation acting in the join unwinds through here: every held window
// closes then (cleanup handlers may release: a mutex unlock pushed by
// pthread_cleanup_push).
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>

#include <cerrno>
#include <cstdint>

#include "runtime/core/release.h"
#include "runtime/core/thread_state.h"

namespace trapsan {
namespace {

using PthreadJoinFn = int (*)(pthread_t, void**);

PthreadJoinFn RealPthreadJoin() {
  static PthreadJoinFn fn =
      reinterpret_cast<PthreadJoinFn>(dlsym(RTLD_NEXT, "pthread_join"));
  return fn;
}

struct StaticLookup {
  uintptr_t addr;
  bool found;
};

int FindWritableSegment(dl_phdr_info* info, size_t, void* arg) {
  auto* lookup = static_cast<StaticLookup*>(arg);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    uintptr_t lo;
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_W) != 0) {
      lo = info->dlpi_addr + ph.p_vaddr;
    } else if (ph.p_type == PT_TLS && info->dlpi_tls_data != nullptr) {
      // The calling thread's own block of the object's TLS: the join frees
      // the joined thread's blocks, never the caller's.
      lo = reinterpret_cast<uintptr_t>(info->dlpi_tls_data);
    } else {
      continue;
    }
    if (lookup->addr >= lo && lookup->addr - lo < ph.p_memsz) {
      lookup->found = true;
      return 1;
    }
  }
  return 0;
}

// Static storage of a loaded object, the calling thread's own stack or its
// own thread-local storage: memory a join does not free.
bool SurvivesJoin(uintptr_t addr, void*) {
  const ThreadState& t = CurrentThread();
  if (t.stack_lo != 0 && addr >= t.stack_lo && addr < t.stack_hi) return true;
  StaticLookup lookup{addr, false};
  dl_iterate_phdr(FindWritableSegment, &lookup);
  return lookup.found;
}

void CloseAllOnCancel(void*) {
  NoteJoinWait(false);
  CloseHeldWindows(CloseReason::kRelease);
}

}  // namespace
}  // namespace trapsan

extern "C" __attribute__((visibility("default"))) int pthread_join(
    pthread_t thread, void** retval) {
  using namespace trapsan;
  PthreadJoinFn real = RealPthreadJoin();
  if (real == nullptr) return ENOSYS;
  if (__trapsan_windows_open == 0 || CurrentThread().in_runtime != 0) {
    return real(thread, retval);
  }
  CloseHeldWindowsExcept(SurvivesJoin, nullptr);
  NoteJoinWait(true);
  int rc;
  pthread_cleanup_push(CloseAllOnCancel, nullptr);
  rc = real(thread, retval);
  pthread_cleanup_pop(0);
  NoteJoinWait(false);
  return rc;
}
