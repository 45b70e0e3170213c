// Deduplication of reports by the unordered pair of their top frames'
// functions: the same two functions racing again, whichever side sampled,
// is reported once. Each pair's sightings are counted (the JSON summary).
#ifndef TRAPSAN_RUNTIME_REPORT_DEDUP_H_
#define TRAPSAN_RUNTIME_REPORT_DEDUP_H_

#include <cstdint>
#include <string>
#include <vector>
#include <unordered_map>


namespace trapsan {

class Deduplicator {
 public:
  struct Entry {
    std::string first, second;  // as first seen (not sorted)
    uint64_t count = 0;         // sightings
    bool printed = false;
  };

  // Counts a sighting of the unordered pair {a, b}; true the first time.
  // Not thread-safe.
  bool FirstTime(const std::string& a, const std::string& b);
  // The pair {a, b} was printed.
  void MarkPrinted(const std::string& a, const std::string& b);
  // Every pair seen, in the order first seen.
  const std::vector<Entry>& Entries() const { return entries_; }
  void Clear() {
    index_.clear();
    entries_.clear();
  }

 private:
  static std::string Key(const std::string& a, const std::string& b);
  std::unordered_map<std::string, size_t> index_;
  std::vector<Entry> entries_;
};

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_DEDUP_H_
