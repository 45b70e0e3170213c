#include "string_overread.h"

#include <string>

#include "absl/strings/match.h"
#include "runtime/report/sample_decode.h"
#include "runtime/report/symbolizer.h"

namespace trapsan {
namespace {

// glibc's names of its scanning routines, without their leading
// underscores and variant suffix (__strlen_evex, __rawmemchr_avx2, strlen).
bool ScansForATerminator(std::string name) {
  while (!name.empty() && name[0] == '_') name.erase(0, 1);
  for (const char* prefix : {"str", "stp", "rawmemchr", "memchr", "memrchr",
                             "wcs", "wmemchr"}) {
    if (absl::StartsWith(name, prefix)) return true;
  }
  return false;
}

}  // namespace

bool MayBeStringOverread(const RaceEvent& event) {
  const AccessInfo& racer = event.racer.access;
  if (!event.watcher_known || event.racer.async || !racer.pc_after_access ||
      racer.stack.depth == 0 || racer.kind == AccessKind::kWrite) {
    return false;
  }
  if (ClassifyTrappedAccess(racer, event.window.watch_addr,
                            event.window.watch_len) != Atomicity::kWideLoad) {
    return false;
  }
  const std::vector<Frame> frames =
      GetSymbolizer().SymbolizeCode(racer.stack.pcs[0] - 1);
  return !frames.empty() && ScansForATerminator(frames.back().function);
}

}  // namespace trapsan
