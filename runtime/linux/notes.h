// The "trapsan" ELF notes of a loaded object: the compiler plugin's site
// notes (sites.h) and entry notes (entries.h) live in its PT_NOTE segments.
#ifndef TRAPSAN_RUNTIME_LINUX_NOTES_H_
#define TRAPSAN_RUNTIME_LINUX_NOTES_H_

#include <elf.h>
#include <link.h>

#include <cstdint>
#include <cstring>

namespace trapsan {

// Calls fn(desc, descsz) for every note named "trapsan" of `type` in the
// object's PT_NOTE segments (a malformed note ends its segment's walk).
template <typename Fn>
void ForEachTrapsanNote(const dl_phdr_info* info, uint32_t type, Fn fn) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const uint8_t* p =
        reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
    const uint8_t* end = p + ph.p_memsz;
    while (end - p >= 12) {
      uint32_t namesz, descsz, note_type;
      std::memcpy(&namesz, p, 4);
      std::memcpy(&descsz, p + 4, 4);
      std::memcpy(&note_type, p + 8, 4);
      const uint8_t* name = p + 12;
      const uint8_t* desc = name + ((namesz + 3) & ~3u);
      const uint8_t* next = desc + ((descsz + 3) & ~3u);
      if (next > end || next < p) break;
      if (note_type == type && namesz == 8 &&
          std::memcmp(name, "trapsan", 8) == 0) {
        fn(desc, descsz);
      }
      p = next;
    }
  }
}

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_LINUX_NOTES_H_
