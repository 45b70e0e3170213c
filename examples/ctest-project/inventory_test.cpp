// inventory_test: a unit test with a data race. Two workers restock one
// shelf; the count is a plain long, so increments get lost now and then and
// the test is flaky. trapsan reports the race with both stacks.
#include <chrono>
#include <cstdio>
#include <thread>

namespace {

struct Shelf {
  long items = 0;
};

Shelf g_shelf;

void Restock(long n) {
  g_shelf.items += n;  // the racy line: a plain read-modify-write
}

void Worker(std::chrono::steady_clock::time_point until, long* done) {
  while (std::chrono::steady_clock::now() < until) {
    Restock(1);
    ++*done;
  }
}

}  // namespace

int main() {
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  long a_done = 0, b_done = 0;
  std::thread a(Worker, until, &a_done), b(Worker, until, &b_done);
  a.join();
  b.join();
  std::printf("restocked %ld of %ld\n", g_shelf.items, a_done + b_done);
  return 0;  // the test itself does not notice lost updates
}
