// C++: std::thread workers race on a member of a heap object.
// Account::Deposit samples its write; Account::Peek reads plainly.
// Usage: racy_cpp [max_ms] (default 3000). Prints RACE_REPORTS, CALLBACK_TITLE.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "common.h"

namespace bank {

class Account {
 public:
  void Deposit(int amount);
  int Peek() const;

 private:
  int balance_ = 0;
};

__attribute__((noinline)) void Account::Deposit(int amount) {
  trapsan_check_write(&balance_, sizeof balance_); balance_ += amount;  // CPP_WRITE
}

__attribute__((noinline)) int Account::Peek() const {
  return balance_;  // CPP_READ
}

}  // namespace bank

namespace {
std::atomic<int> g_reports{0};
volatile long g_sink;

void OnReport(const trapsan_report* r, void*) {
  if (g_reports.fetch_add(1) == 0) {
    std::printf("CALLBACK_TITLE=%s\n", r->title);
    std::fflush(stdout);
  }
}
}  // namespace

int main(int argc, char** argv) {
  tp_setup_stdout();
  const int max_ms = argc > 1 ? std::atoi(argv[1]) : 3000;
  trapsan_set_report_callback(OnReport, nullptr);
  auto account = std::make_unique<bank::Account>();
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  auto keep_going = [&] {
    return g_reports.load() == 0 && std::chrono::steady_clock::now() < deadline;
  };
  std::thread depositor([&] {
    while (keep_going()) account->Deposit(1);
  });
  std::thread auditor([&] {
    long sum = 0;
    while (keep_going()) {
      for (int i = 0; i < 1000; ++i) sum += account->Peek();
    }
    g_sink = sum;
  });
  depositor.join();
  auditor.join();
  std::printf("RACE_REPORTS=%d\n", g_reports.load());
  tp_print_stats();
  return 0;
}
