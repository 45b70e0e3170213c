// queue_test: a race-free unit test. A producer and a consumer share a
// queue under a mutex; trapsan samples the accesses and finds nothing.
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>

namespace {

std::mutex g_mu;
std::condition_variable g_cv;
std::deque<int> g_queue;

void Produce(int n) {
  for (int i = 1; i <= n; ++i) {
    std::lock_guard<std::mutex> lock(g_mu);
    g_queue.push_back(i);
    g_cv.notify_one();
  }
}

long Consume(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) {
    std::unique_lock<std::mutex> lock(g_mu);
    g_cv.wait(lock, [] { return !g_queue.empty(); });
    sum += g_queue.front();
    g_queue.pop_front();
  }
  return sum;
}

}  // namespace

int main() {
  const int n = 20000;
  long sum = 0;
  std::thread consumer([&] { sum = Consume(n); });
  std::thread producer(Produce, n);
  producer.join();
  consumer.join();
  const long expected = static_cast<long>(n) * (n + 1) / 2;
  std::printf("sum %ld (expected %ld)\n", sum, expected);
  return sum == expected ? 0 : 1;
}
