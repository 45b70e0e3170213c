// Deduplication of reports by the unordered pair of their top frames'
// functions: the same two functions racing again, whichever side sampled,
// is reported once.
#ifndef TRAPSAN_RUNTIME_REPORT_DEDUP_H_
#define TRAPSAN_RUNTIME_REPORT_DEDUP_H_

#include <string>

#include "absl/container/flat_hash_set.h"

namespace trapsan {

class Deduplicator {
 public:
  // True the first time the unordered pair {a, b} is seen. Not thread-safe.
  bool FirstTime(const std::string& a, const std::string& b);
  void Clear() { seen_.clear(); }

 private:
  absl::flat_hash_set<std::string> seen_;
};

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_DEDUP_H_
