#include "location.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "runtime/linux/threads.h"
#include "runtime/report/symbolizer.h"

namespace trapsan {
namespace {

// The /proc/self/maps entry holding `addr`: its path or pseudo-name.
bool FindMapping(uintptr_t addr, std::string* name) {
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == nullptr) return false;
  char line[4096];
  bool found = false;
  while (fgets(line, sizeof(line), f) != nullptr) {
    unsigned long start = 0, end = 0;
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &path_at) < 2) {
      continue;
    }
    if (addr < start || addr >= end) continue;
    std::string path = path_at > 0 ? line + path_at : "";
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) {
      path.pop_back();
    }
    *name = path;
    found = true;
    break;
  }
  fclose(f);
  return found;
}

}  // namespace

std::string DescribeLocation(uintptr_t addr) {
  std::string at = absl::StrFormat("at 0x%x", addr);
  DataSymbol sym;
  if (GetSymbolizer().SymbolizeData(addr, &sym)) {
    std::string module;
    uintptr_t offset = 0;
    std::string where = at;
    if (FindModule(addr, &module, &offset)) {
      where = absl::StrFormat("%s (%s+0x%x)", at, Basename(module), offset);
    }
    std::string name = sym.name;
    if (addr != sym.start) {
      name = absl::StrFormat("%s+%d", sym.name, addr - sym.start);
    }
    return absl::StrFormat("global '%s' of size %d %s", name, sym.size, where);
  }
  ThreadRecord owner;
  if (FindStackOwner(addr, &owner)) {
    return absl::StrFormat("stack of thread T%d %s", owner.id, at);
  }
  std::string mapping;
  if (FindMapping(addr, &mapping)) {
    if (mapping == "[heap]") return absl::StrCat("heap ", at);
    if (mapping == "[stack]") return absl::StrCat("stack of the main thread ", at);
    if (mapping.empty()) {
      return absl::StrCat("heap or anonymous memory (mmap) ", at);
    }
    return absl::StrCat("mapping '", mapping, "' ", at);
  }
  return absl::StrCat("unknown memory ", at);
}

}  // namespace trapsan
