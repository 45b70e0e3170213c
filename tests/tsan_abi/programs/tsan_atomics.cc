// Atomic operations through the ThreadSanitizer ABI: compiled with
// -fsanitize=thread (gcc or clang; -mcx16 so that clang also sends 128-bit
// atomics to __tsan_atomic128_*), every __atomic builtin and std::atomic
// operation below becomes a __tsan_atomic* call that trapsan must execute
// atomically. 4 threads hammer each operation; the results must be exact.
//
// Usage: tsan_atomics [iterations]  (default 100000, per thread)
// Prints <NAME>=<value> and <NAME>_EXPECTED=<value> pairs, ALL_OK and
// REPORTS.
#include <pthread.h>

#include <atomic>
#include <cinttypes>
#include <string>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr int kThreads = 4;
int g_iterations = 100000;
int g_failures = 0;
std::atomic<int> g_reports{0};

void OnReport(const trapsan_report*, void*) { g_reports.fetch_add(1); }

void Check(const char* name, unsigned long long got,
           unsigned long long expected) {
  printf("%s=%llu\n%s_EXPECTED=%llu\n", name, got, name, expected);
  if (got != expected) g_failures++;
}

// Runs body(thread_index) on kThreads threads at once.
// Runs body(t) in kThreads threads that start together. They wait at a
// pthread barrier, not in a spin loop: with every access sampled, each turn
// of a spin loop's instrumented reads opened a window, so how many windows the
// start cost depended on how fast threads start (minutes in the lab guest).
template <typename F>
void Parallel(F body) {
  pthread_barrier_t start;
  pthread_barrier_init(&start, nullptr, kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      pthread_barrier_wait(&start);
      body(t);
    });
  }
  for (std::thread& t : threads) t.join();
  pthread_barrier_destroy(&start);
}

// One memory order per thread: the operations must be atomic under each.
int OrderOf(int t) {
  static const int kOrders[kThreads] = {__ATOMIC_RELAXED, __ATOMIC_ACQ_REL,
                                        __ATOMIC_SEQ_CST, __ATOMIC_RELEASE};
  return kOrders[t];
}

template <typename T>
void FetchAddSub(const char* name) {
  T add = 0, sub = 0;
  const int n = g_iterations;
  Parallel([&](int t) {
    for (int i = 0; i < n; i++) {
      switch (OrderOf(t)) {
        case __ATOMIC_RELAXED:
          __atomic_fetch_add(&add, 1, __ATOMIC_RELAXED);
          __atomic_fetch_sub(&sub, 1, __ATOMIC_RELAXED);
          break;
        case __ATOMIC_ACQ_REL:
          __atomic_fetch_add(&add, 1, __ATOMIC_ACQ_REL);
          __atomic_fetch_sub(&sub, 1, __ATOMIC_ACQ_REL);
          break;
        case __ATOMIC_RELEASE:
          __atomic_add_fetch(&add, 1, __ATOMIC_RELEASE);
          __atomic_sub_fetch(&sub, 1, __ATOMIC_RELEASE);
          break;
        default:
          __atomic_fetch_add(&add, 1, __ATOMIC_SEQ_CST);
          __atomic_fetch_sub(&sub, 1, __ATOMIC_SEQ_CST);
          break;
      }
    }
  });
  const unsigned long long total = 1ull * kThreads * n;
  const unsigned long long mask =
      sizeof(T) >= 8 ? ~0ull : (1ull << (8 * sizeof(T))) - 1;
  Check((std::string(name) + "_FETCH_ADD").c_str(),
        static_cast<unsigned long long>(add) & mask, total & mask);
  Check((std::string(name) + "_FETCH_SUB").c_str(),
        static_cast<unsigned long long>(sub) & mask, (0 - total) & mask);
}

// Increments through compare-exchange loops: strong (gcc:
// compare_exchange_strong, clang: compare_exchange_val) and weak.
template <typename T>
void CasLoops(const char* name, T step) {
  T strong = 0, weak = 0;
  const int n = g_iterations;
  Parallel([&](int t) {
    for (int i = 0; i < n; i++) {
      T seen = __atomic_load_n(&strong, __ATOMIC_RELAXED);
      while (!__atomic_compare_exchange_n(&strong, &seen, seen + step, false,
                                          __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE)) {
      }
      seen = __atomic_load_n(&weak, __ATOMIC_ACQUIRE);
      while (!__atomic_compare_exchange_n(&weak, &seen, seen + step, true,
                                          t % 2 ? __ATOMIC_SEQ_CST
                                                : __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED)) {
      }
    }
  });
  const T expected = static_cast<T>(step * static_cast<T>(kThreads) *
                                    static_cast<T>(n));
  Check((std::string(name) + "_CAS_STRONG").c_str(),
        static_cast<unsigned long long>(strong == expected),
        1);
  Check((std::string(name) + "_CAS_WEAK").c_str(),
        static_cast<unsigned long long>(weak == expected), 1);
}

// Bit operations: each thread owns one bit (or/and) and toggles its own bit
// an even number of times (xor); nand checked single-threaded.
template <typename T>
void BitOps(const char* name) {
  T bits = 0, toggles = 0, cleared = static_cast<T>(~T(0));
  const int n = g_iterations;
  Parallel([&](int t) {
    const T mine = static_cast<T>(T(1) << t);
    for (int i = 0; i < n; i++) {
      __atomic_fetch_or(&bits, mine, __ATOMIC_RELEASE);
      __atomic_fetch_xor(&toggles, mine, __ATOMIC_ACQ_REL);
      __atomic_fetch_and(&cleared, static_cast<T>(~mine), __ATOMIC_RELAXED);
      if (i % 2 == 0) __atomic_fetch_or(&cleared, mine, __ATOMIC_SEQ_CST);
    }
  });
  Check((std::string(name) + "_FETCH_OR").c_str(),
        static_cast<unsigned long long>(bits), (1u << kThreads) - 1);
  Check((std::string(name) + "_FETCH_XOR").c_str(),
        static_cast<unsigned long long>(toggles), 0);
  // The last and of each thread cleared its bit (n is even).
  Check((std::string(name) + "_FETCH_AND").c_str(),
        static_cast<unsigned long long>(cleared) & ((1u << kThreads) - 1), 0);
  T x = static_cast<T>(0x70);
  T old = __atomic_fetch_nand(&x, static_cast<T>(0x3c), __ATOMIC_SEQ_CST);
  Check((std::string(name) + "_FETCH_NAND").c_str(),
        static_cast<unsigned long long>(old == 0x70 &&
                                        x == static_cast<T>(~(0x70 & 0x3c))),
        1);
}

// A spin lock made of exchange (acquire) and store (release) guards a plain
// counter: both must be atomic and ordered for the count to be exact.
template <typename T>
void ExchangeLock(const char* name) {
  T lock = 0;
  long counter = 0;
  long swaps = 0;
  const int n = g_iterations / 4;
  Parallel([&](int) {
    for (int i = 0; i < n; i++) {
      while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE) != 0) {
      }
      counter++;
      __atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
    }
  });
  // Exchange returns what was there: a token passed around comes back.
  T token = 1;
  Parallel([&](int t) {
    for (int i = 0; i < n; i++) {
      T mine = static_cast<T>(t + 2);
      T got = __atomic_exchange_n(&token, mine, __ATOMIC_SEQ_CST);
      __atomic_exchange_n(&token, got, __ATOMIC_SEQ_CST);
    }
  });
  (void)swaps;
  Check((std::string(name) + "_EXCHANGE_LOCK").c_str(),
        static_cast<unsigned long long>(counter), 1ull * kThreads * n);
  Check((std::string(name) + "_EXCHANGE_TOKEN_VALID").c_str(),
        static_cast<unsigned long long>(token >= 1 && token <= kThreads + 1),
        1);
}

typedef unsigned __int128 u128;

// 128 bits: fetch_add, CAS loops, and loads that never see a torn store.
void Atomics128() {
  alignas(16) u128 sum = 0, cas = 0, shared = 0;
  const u128 step = (static_cast<u128>(1) << 64) | 1;
  std::atomic<int> writers_done{0};
  std::atomic<long> torn{0};
  const int n = g_iterations;
  Parallel([&](int t) {
    if (t < 2) {
      for (int i = 0; i < n; i++) {
        __atomic_fetch_add(&sum, step, __ATOMIC_SEQ_CST);
        u128 seen = __atomic_load_n(&cas, __ATOMIC_ACQUIRE);
        while (!__atomic_compare_exchange_n(&cas, &seen, seen + step,
                                            i % 2 == 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
        }
        const u128 v = static_cast<u128>(static_cast<uint64_t>(i * 2 + t));
        __atomic_store_n(&shared, (v << 64) | v, __ATOMIC_RELEASE);
      }
      writers_done.fetch_add(1);
    } else {
      while (writers_done.load() < 2) {
        u128 v = __atomic_load_n(&shared, __ATOMIC_ACQUIRE);
        if (static_cast<uint64_t>(v >> 64) != static_cast<uint64_t>(v))
          torn.fetch_add(1);
        u128 x = __atomic_exchange_n(&shared, v, __ATOMIC_ACQ_REL);
        if (static_cast<uint64_t>(x >> 64) != static_cast<uint64_t>(x))
          torn.fetch_add(1);
      }
    }
  });
  const u128 expected = step * static_cast<u128>(2 * n);
  Check("A128_FETCH_ADD_LO", static_cast<uint64_t>(sum),
        static_cast<uint64_t>(expected));
  Check("A128_FETCH_ADD_HI", static_cast<uint64_t>(sum >> 64),
        static_cast<uint64_t>(expected >> 64));
  Check("A128_CAS_LO", static_cast<uint64_t>(cas),
        static_cast<uint64_t>(expected));
  Check("A128_CAS_HI", static_cast<uint64_t>(cas >> 64),
        static_cast<uint64_t>(expected >> 64));
  Check("A128_TORN", static_cast<unsigned long long>(torn.load()), 0);
  u128 y = 5;
  u128 old = __atomic_fetch_nand(&y, 3, __ATOMIC_SEQ_CST);
  u128 z = 0xf0;
  __atomic_fetch_and(&z, 0x3c, __ATOMIC_SEQ_CST);
  __atomic_fetch_or(&z, static_cast<u128>(1) << 100, __ATOMIC_SEQ_CST);
  __atomic_fetch_xor(&z, 1, __ATOMIC_SEQ_CST);
  __atomic_fetch_sub(&z, 1, __ATOMIC_SEQ_CST);
  Check("A128_BITOPS",
        old == 5 && y == ~static_cast<u128>(1) &&
            z == ((static_cast<u128>(1) << 100) | 0x30),
        1);
}

// std::atomic and fences, as C++ code uses them.
void StdAtomicAndFences() {
  std::atomic<int> data_ready{0};
  long payload = 0;
  std::atomic<long> count{0};
  const int n = g_iterations / 10;
  Parallel([&](int t) {
    for (int i = 0; i < n; i++) count++;
    if (t == 0) {
      payload = 42;
      std::atomic_thread_fence(std::memory_order_release);
      data_ready.store(1, std::memory_order_relaxed);
    } else if (t == 1) {
      while (data_ready.load(std::memory_order_relaxed) == 0) {
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (payload != 42) count.fetch_add(1000000000);
    }
  });
  Check("STD_ATOMIC_COUNT", static_cast<unsigned long long>(count.load()),
        1ull * kThreads * n);
}

}  // namespace

int main(int argc, char** argv) {
  tp_setup_stdout();
  if (argc > 1) g_iterations = atoi(argv[1]) & ~1;
  printf("PID=%d\n", static_cast<int>(getpid()));
  trapsan_set_report_callback(OnReport, nullptr);
  FetchAddSub<uint8_t>("A8");
  FetchAddSub<uint16_t>("A16");
  FetchAddSub<uint32_t>("A32");
  FetchAddSub<uint64_t>("A64");
  CasLoops<uint8_t>("A8", 3);
  CasLoops<uint16_t>("A16", 3);
  CasLoops<uint32_t>("A32", 3);
  CasLoops<uint64_t>("A64", 3);
  BitOps<uint8_t>("A8");
  BitOps<uint16_t>("A16");
  BitOps<uint32_t>("A32");
  BitOps<uint64_t>("A64");
  ExchangeLock<uint8_t>("A8");
  ExchangeLock<uint16_t>("A16");
  ExchangeLock<uint32_t>("A32");
  ExchangeLock<uint64_t>("A64");
  Atomics128();
  StdAtomicAndFences();
  printf("FAILURES=%d\n", g_failures);
  printf("ALL_OK=%d\n", g_failures == 0);
  printf("REPORTS=%d\n", g_reports.load());
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
