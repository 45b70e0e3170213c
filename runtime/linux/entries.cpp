#include "entries.h"

#include <elf.h>
#include <link.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "notes.h"

namespace trapsan {
namespace {

struct EntryIndex {
  std::mutex mu;
  std::vector<uintptr_t> entries;   // sorted, unique
  // dl_iterate_phdr's load and unload counts at the scan.
  unsigned long long adds = ~0ull, subs = ~0ull;
};

EntryIndex* g_entries = nullptr;

// A fork child starts with the lock free: the thread that may have held it
// in the parent does not exist there.
void ResetLockInChild() {
  if (g_entries != nullptr) new (&g_entries->mu) std::mutex;
}

EntryIndex& Index() {
  static EntryIndex* index = [] {
    g_entries = new EntryIndex;  // never destroyed: threads start until exit
    pthread_atfork(nullptr, nullptr, ResetLockInChild);
    return g_entries;
  }();
  return *index;
}

// The entry notes of one loaded object.
void ScanObject(const dl_phdr_info* info, std::vector<uintptr_t>* out) {
  ForEachTrapsanNote(info, kEntryNoteType,
                     [out](const uint8_t* desc, uint32_t descsz) {
                       if (descsz != 8) return;
                       int64_t offset;
                       std::memcpy(&offset, desc, sizeof offset);
                       out->push_back(reinterpret_cast<uintptr_t>(desc) +
                                      static_cast<uintptr_t>(offset));
                     });
}

// dl_iterate_phdr's counts of objects loaded and unloaded so far.
std::pair<unsigned long long, unsigned long long> LoadCounts() {
  std::pair<unsigned long long, unsigned long long> counts{0, 0};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        *static_cast<std::pair<unsigned long long, unsigned long long>*>(
            data) = {info->dlpi_adds, info->dlpi_subs};
        return 1;
      },
      &counts);
  return counts;
}

}  // namespace

bool IsInstrumentedEntry(uintptr_t fn) {
  EntryIndex& index = Index();
  std::lock_guard<std::mutex> lock(index.mu);
  const auto [adds, subs] = LoadCounts();
  if (adds != index.adds || subs != index.subs) {
    std::vector<uintptr_t> entries;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
          ScanObject(info, static_cast<std::vector<uintptr_t>*>(data));
          return 0;
        },
        &entries);
    std::sort(entries.begin(), entries.end());
    entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
    index.entries = std::move(entries);
    index.adds = adds;
    index.subs = subs;
  }
  return std::binary_search(index.entries.begin(), index.entries.end(), fn);
}

}  // namespace trapsan
