// Race-free synchronization, compiled with -fsanitize=thread (gcc or clang)
// and linked against libtrapsan: every plain access goes through the
// compiler's __tsan_* calls, so with sample_rate=1 each one can open a watch
// window. None of these may be reported.
//
// Usage: tsan_race_free [rounds]  (default 2000)
// Prints one <SCENARIO>_OK=1 line per scenario, REPORTS and the STAT_ lines.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace {

std::atomic<int> g_reports{0};

void OnReport(const trapsan_report*, void*) { g_reports.fetch_add(1); }

// A plain counter under a std::mutex.
struct Counter {
  std::mutex mu;
  long value = 0;
};

__attribute__((noinline)) void MutexScenario(int rounds) {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&c, rounds] {
      for (int i = 0; i < rounds; i++) {
        std::lock_guard<std::mutex> lock(c.mu);
        c.value++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  printf("MUTEX_OK=%d\n", c.value == 3L * rounds);
}

// A producer and a consumer: a std::deque under a mutex and a condition
// variable.
__attribute__((noinline)) void CondvarScenario(int rounds) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<int> queue;
  bool done = false;
  long sum = 0;
  std::thread consumer([&] {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return !queue.empty() || done; });
      while (!queue.empty()) {
        sum += queue.front();
        queue.pop_front();
      }
      if (done) break;
    }
  });
  for (int i = 1; i <= rounds; i++) {
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(i);
    }
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_one();
  consumer.join();
  printf("CONDVAR_OK=%d\n", sum == static_cast<long>(rounds) * (rounds + 1) / 2);
}

// Ownership of a plain buffer passes between two threads with a
// release store and an acquire load.
__attribute__((noinline)) void AcquireReleaseScenario(int rounds) {
  std::atomic<int> turn{0};
  long buffer[4] = {0, 0, 0, 0};
  bool ok = true;
  auto player = [&](int me) {
    for (int i = 0; i < rounds; i++) {
      while (turn.load(std::memory_order_acquire) != me) {
      }
      if (buffer[0] != buffer[3]) ok = false;
      for (long& b : buffer) b++;
      turn.store(1 - me, std::memory_order_release);
    }
  };
  std::thread other(player, 1);
  player(0);
  other.join();
  printf("ACQREL_OK=%d\n", ok && buffer[0] == 2L * rounds);
}

// Relaxed atomics only: counters and a flag, shared by three threads.
__attribute__((noinline)) void RelaxedScenario(int rounds) {
  std::atomic<long> counter{0};
  std::atomic<int> flag{0};
  std::atomic<long> seen{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < rounds; i++) {
        counter.fetch_add(1, std::memory_order_relaxed);
        flag.store(t, std::memory_order_relaxed);
        seen.fetch_add(flag.load(std::memory_order_relaxed) >= 0,
                       std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  printf("RELAXED_OK=%d\n", counter.load() == 3L * rounds &&
                                seen.load() == 3L * rounds);
}

// std::call_once initializes plain data that every thread then reads.
struct Lazy {
  std::once_flag once;
  long table[8];
};

__attribute__((noinline)) void CallOnceScenario(int rounds) {
  int bad = 0;
  for (int r = 0; r < rounds / 100 + 1; r++) {
    Lazy lazy;
    std::atomic<long> sum{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; t++) {
      threads.emplace_back([&] {
        std::call_once(lazy.once, [&] {
          for (int i = 0; i < 8; i++) lazy.table[i] = i + 1;
        });
        long s = 0;
        for (int k = 0; k < 20; k++) {
          for (int i = 0; i < 8; i++) s += lazy.table[i];
        }
        sum.fetch_add(s);
      });
    }
    for (std::thread& t : threads) t.join();
    if (sum.load() != 3L * 20 * 36) bad++;
  }
  printf("CALL_ONCE_OK=%d\n", bad == 0);
}

// A thread writes plain data; its creator reads it after join().
__attribute__((noinline)) void JoinScenario(int rounds) {
  int bad = 0;
  for (int r = 0; r < rounds / 100 + 1; r++) {
    long data[16];
    std::thread worker([&data, r] {
      for (int i = 0; i < 16; i++) data[i] = r + i;
    });
    worker.join();
    for (int i = 0; i < 16; i++) {
      if (data[i] != r + i) bad++;
    }
    for (int i = 0; i < 16; i++) data[i] = 0;
  }
  printf("JOIN_OK=%d\n", bad == 0);
}

// Objects with virtual methods (vptr reads and updates) made by one thread,
// handed over under a mutex, called and destroyed by another; a shared one
// called by all.
struct Shape {
  virtual ~Shape() {}
  virtual long Area() const = 0;
};
struct Square : Shape {
  explicit Square(long s) : side(s) {}
  ~Square() override { side = 0; }
  long Area() const override { return side * side; }
  long side;
};

__attribute__((noinline)) void VirtualScenario(int rounds) {
  std::mutex mu;
  std::deque<Shape*> queue;
  Square shared_square(3);
  const Shape* shared = &shared_square;
  long total = 0, shared_total = 0;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    long got = 0;
    while (got < rounds) {
      Shape* s = nullptr;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!queue.empty()) {
          s = queue.front();
          queue.pop_front();
        }
      }
      if (s == nullptr) continue;
      total += s->Area();
      shared_total += shared->Area();
      delete s;
      got++;
    }
    done = true;
  });
  long mine = 0;
  for (int i = 1; i <= rounds; i++) {
    Shape* s = new Square(2);
    mine += shared->Area();
    std::lock_guard<std::mutex> lock(mu);
    queue.push_back(s);
  }
  consumer.join();
  printf("VIRTUAL_OK=%d\n", done.load() && total == 4L * rounds &&
                                shared_total == 9L * rounds &&
                                mine == 9L * rounds);
}

}  // namespace

int main(int argc, char** argv) {
  tp_setup_stdout();
  int rounds = argc > 1 ? atoi(argv[1]) : 2000;
  printf("PID=%d\n", static_cast<int>(getpid()));
  printf("BACKEND=%s\n", trapsan_backend());
  trapsan_set_report_callback(OnReport, nullptr);
  MutexScenario(rounds);
  CondvarScenario(rounds);
  AcquireReleaseScenario(rounds);
  RelaxedScenario(rounds);
  CallOnceScenario(rounds);
  JoinScenario(rounds);
  VirtualScenario(rounds);
  printf("REPORTS=%d\n", g_reports.load());
  tp_print_stats();
  printf("DONE=1\n");
  return 0;
}
