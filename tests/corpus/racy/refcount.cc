// refcount: an intrusive reference count kept in a plain int; threads take
// and drop references to a shared object (the count should be atomic).
// corpus: kind=refcount issue=15 shape=concurrent
// Racy lines: Ref's and Unref's read-modify-writes of refs_ (RACE).
#include "corpus.h"

namespace {

class Buffer {
 public:
  void Ref() { refs_ = refs_ + 1; }  // RACE
  bool Unref() {
    refs_ = refs_ - 1;  // RACE
    return refs_ == 0;  // RACE
  }
  int refs() const { return refs_; }

 private:
  int refs_ = 1;
};

constexpr int kIters = 5000;
Buffer* g_buffer;

void Thread(int) {
  for (int i = 0; i < kIters; ++i) {
    g_buffer->Ref();
    TP_BARRIER();
    if (g_buffer->Unref()) std::printf("freed too early\n");
    TP_BARRIER();
  }
}

}  // namespace

int main() {
  g_buffer = new Buffer;
  corpus_run(Thread);
  std::printf("refs=%d\n", g_buffer->refs());
  return 0;
}
