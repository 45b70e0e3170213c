// Cold-site bias (issue 14; option cold_sites, on in mode=ci): the first
// executions of every compiler-plugin site are sampled, however rarely the
// site runs, as LiteRace samples cold code far more often than hot code. A
// racy write that runs once per thread (a result folded into a shared
// variable at the end, a flag set before a barrier, a test's one access on
// each side) is what fixed-rate sampling misses: one access in
// `sample_rate` is sampled, so a site that runs 4 times is almost never.
//
// How, at no cost once a site is warm: a site's check is
//
//     subl $N, <countdown>; jg 1f; call *__trapsan_site@GOTPCREL(%rip); 1:
//
// At start-up (and for objects loaded later) the runtime rewrites the one
// displacement byte of each site's `jg` (7f 06, or 0f 8f 06 00 00 00 where
// the assembler did not relax it) from 6 (past the call) to 0 (the call
// itself): taken or not, the jump reaches the call, so every execution
// of the site comes to the runtime. Its first `cold_sites` calls are taken
// as samples (a region's check arms one of its labels, a calling site
// samples one of its accesses), flagged cold; the call that uses up the
// site's count writes 6 back, and the site is back to its countdown. One
// byte per site, written with the label sites' text writer (text_patch.h):
// another CPU runs either `jg +6` or `jg +0`, both meaning what they should.
// A call through a patch being put back (another thread passed the jump
// before) is not a sample: its countdown did not run out.
//
// Each thread's first execution of a site is cold as well (the first 8
// threads to run it while it is patched): the patch stays until those 8
// had theirs or 4096 more executions came (cold_sites.cpp). A worksharing
// loop's chunks: every thread's first iteration, not only the first
// thread's first `cold_sites`.
//
// Cold samples are bounded (cold_sites per site), still pay the overhead
// budget, bypass the "no sample at a thread's first check" rule, and their
// held windows are not stolen by hot samples (release.h).
#ifndef TRAPSAN_RUNTIME_LINUX_COLD_SITES_H_
#define TRAPSAN_RUNTIME_LINUX_COLD_SITES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace trapsan {

struct Site;

// At start-up, after the backend and labels are chosen: patches the sites of
// every loaded object when the option asks for it (cold_sites > 0, a backend
// on). Later scans (dlopen) patch their new sites through ColdSitesScanned.
void StartColdSites();

// Called with the site index after each scan (its lock held): patches the
// sites not seen before, once StartColdSites enabled it.
void ColdSitesScanned(const std::vector<Site>& sites);

// A call of the site whose call returns to `pc`. kCold: one of its first
// executions, or the calling thread's first, to be sampled (the patch is
// put back once both are used up); kStray: a patched site whose cold
// executions are used up (the call came through the patch before it was
// put back, or while other threads' first executions are awaited);
// kNotCold: not patched.
enum class ColdCall { kNotCold, kCold, kStray };
ColdCall TakeColdCall(uintptr_t pc);

// verbosity=1: a line on cold sites ("" if off).
std::string ColdSiteSummary();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_COLD_SITES_H_
