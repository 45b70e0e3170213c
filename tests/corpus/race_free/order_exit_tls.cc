// order_exit_tls: as order_exit_key, ordered by a C++ thread_local object's
// destructor (run by glibc's __call_tls_dtors after the thread function's
// return) that sets "done" under a mutex and broadcasts a condition
// variable: the detached worker's exit is observed through the condvar
// only. Its last access, the write of its result, is after everything else
// it does; the corpus thread waits on the condvar, then updates the slot.
// corpus: kind=order_exit_tls issue=14 shape=far_apart
#include "corpus.h"

namespace {

enum { kRounds = 20, kWork = 2000 };
long g_slot[CORPUS_THREADS];
bool g_done[CORPUS_THREADS];
pthread_mutex_t g_mu[CORPUS_THREADS];
pthread_cond_t g_cv[CORPUS_THREADS];

struct Notifier {
  int index = -1;
  ~Notifier() {
    if (index < 0) return;
    pthread_mutex_lock(&g_mu[index]);
    g_done[index] = true;
    pthread_cond_broadcast(&g_cv[index]);
    pthread_mutex_unlock(&g_mu[index]);
  }
};
thread_local Notifier t_notifier;

void* Worker(void* p) {
  const int index = static_cast<int>(reinterpret_cast<long>(p));
  long result = 0;
  for (int i = 0; i < kWork; ++i) result += (i * 7) ^ index;
  t_notifier.index = index;
  g_slot[index] = result;  // the worker's last access
  return nullptr;
}

void Thread(int index) {
  long total = 0;
  for (int r = 0; r < kRounds; ++r) {
    pthread_mutex_lock(&g_mu[index]);
    g_done[index] = false;
    pthread_mutex_unlock(&g_mu[index]);
    pthread_t t;
    if (pthread_create(&t, nullptr, Worker, reinterpret_cast<void*>(static_cast<long>(index))) != 0)
      exit(2);
    pthread_detach(t);
    pthread_mutex_lock(&g_mu[index]);
    while (!g_done[index]) pthread_cond_wait(&g_cv[index], &g_mu[index]);
    pthread_mutex_unlock(&g_mu[index]);
    total += g_slot[index];
    g_slot[index] = total;  // after the destructor's unlock: ordered
  }
  if (total == 42) std::printf("unlikely\n");
}

}  // namespace

int main() {
  for (int i = 0; i < CORPUS_THREADS; ++i) {
    pthread_mutex_init(&g_mu[i], nullptr);
    pthread_cond_init(&g_cv[i], nullptr);
  }
  corpus_run(Thread);
  long sum = 0;
  for (int i = 0; i < CORPUS_THREADS; ++i) sum += g_slot[i];
  std::printf("sum=%ld\n", sum);
  return 0;
}
