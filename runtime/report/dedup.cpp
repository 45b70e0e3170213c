#include "dedup.h"

#include "absl/strings/str_cat.h"

namespace trapsan {

bool Deduplicator::FirstTime(const std::string& a, const std::string& b) {
  const std::string& low = a < b ? a : b;
  const std::string& high = a < b ? b : a;
  return seen_.insert(absl::StrCat(low, "\n", high)).second;
}

}  // namespace trapsan
