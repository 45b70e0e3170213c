// order_return: a producer hands a block of words to a consumer (pairs of
// threads); the only ordering is a release that comes right after the
// producer's write returns through instrumented functions with external
// linkage, in three ways:
//   1. the callers are instrumented: the release store follows the return;
//   2. the caller is built without instrumentation (the plain-compiled code a
//      program links: disable_sanitizer_instrumentation) and releases after
//      the instrumented writer returns to it;
//   3. the writer is pthread_once's init routine: libc releases after it
//      returns, and the other thread's pthread_once acquires.
// A window on the write may be kept across a return to an instrumented
// caller, never across one to code that is not (it may release next).
// corpus: kind=order_return issue=14 shape=far_apart
#include "corpus.h"

enum { kRounds = 60, kWords = 32, kPairs = CORPUS_THREADS / 2 };
static long g_block[kPairs][kWords];
static unsigned g_seq[kPairs], g_ack[kPairs];
static long g_once_value[kPairs][kRounds];
static pthread_once_t g_once[kPairs][kRounds];
static long g_sums[CORPUS_THREADS];
static __thread int t_pair, t_round;

__attribute__((noinline)) long FillWords(long* block, long round) {
  for (int k = 0; k < kWords; ++k) block[k] = round * k;
  return round;
}

__attribute__((noinline)) long FillBlock(int pair, long round) {
  return FillWords(g_block[pair], round) + 1;  // (not a tail call)
}

static long g_filled[kPairs];  // each producer's own

// Plain code: trapsan sees neither its accesses nor its release.
__attribute__((noinline, disable_sanitizer_instrumentation)) void
FillAndPostUnchecked(int pair, long round) {
  g_filled[pair] += FillBlock(pair, round);
  __atomic_store_n(&g_seq[pair], (unsigned)round, __ATOMIC_RELEASE);
}

__attribute__((noinline)) void InitOnceValue(void) {
  g_once_value[t_pair][t_round] = t_round * 3L + 1;
}

static void Await(const unsigned* v, unsigned value) {
  while (__atomic_load_n(v, __ATOMIC_ACQUIRE) != value) corpus_pause();
}

static void Thread(int index) {
  const int pair = index / 2;
  long sum = 0;
  for (unsigned r = 1; r <= 2 * kRounds; ++r) {
    if (index % 2 == 0) {
      if (r <= kRounds) {
        g_filled[pair] += FillBlock(pair, r);
        __atomic_store_n(&g_seq[pair], r, __ATOMIC_RELEASE);
      } else {
        FillAndPostUnchecked(pair, r);
      }
      Await(&g_ack[pair], r);
    } else {
      Await(&g_seq[pair], r);
      for (int k = 0; k < kWords; ++k) sum += g_block[pair][k];
      __atomic_store_n(&g_ack[pair], r, __ATOMIC_RELEASE);
    }
  }
  t_pair = pair;
  for (int r = 0; r < kRounds; ++r) {
    t_round = r;
    pthread_once(&g_once[pair][r], InitOnceValue);
    sum += g_once_value[pair][r];
  }
  g_sums[index] = sum;
}

int main(void) {
  for (int p = 0; p < kPairs; ++p)
    for (int r = 0; r < kRounds; ++r) g_once[p][r] = PTHREAD_ONCE_INIT;
  corpus_run(Thread);
  long want_blocks = 0, want_once = 0;
  for (long r = 1; r <= 2 * kRounds; ++r) want_blocks += r * (kWords * (kWords - 1) / 2);
  for (long r = 0; r < kRounds; ++r) want_once += r * 3 + 1;
  printf("sums=%ld,%ld,%ld,%ld\n", g_sums[0], g_sums[1], g_sums[2], g_sums[3]);
  return g_sums[1] == want_blocks + want_once && g_sums[0] == want_once ? 0 : 1;
}
