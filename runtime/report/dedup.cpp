#include "dedup.h"

#include "absl/strings/str_cat.h"

namespace trapsan {

std::string Deduplicator::Key(const std::string& a, const std::string& b) {
  const std::string& low = a < b ? a : b;
  const std::string& high = a < b ? b : a;
  return absl::StrCat(low, "\n", high);
}

bool Deduplicator::FirstTime(const std::string& a, const std::string& b) {
  auto [it, inserted] = index_.try_emplace(Key(a, b), entries_.size());
  if (inserted) entries_.push_back(Entry{a, b, 0, false});
  ++entries_[it->second].count;
  return inserted;
}

void Deduplicator::MarkPrinted(const std::string& a, const std::string& b) {
  auto it = index_.find(Key(a, b));
  if (it != index_.end()) entries_[it->second].printed = true;
}

}  // namespace trapsan
