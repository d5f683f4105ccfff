// Fuzzes Connection's frame decoder: whatever a peer writes (length headers
// that lie, truncated payloads, garbage), receiving must end in a clear
// error or EOF, never a crash, a hang or an allocation above the cap.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "multiprocessing/fuzz/fuzz_util.h"
#include "multiprocessing/ipc/connection.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::optional<mp::fuzz::PeerInput> in = mp::fuzz::ConnectionFor(data, size);
  if (!in) return 0;
  mp::Connection* c = &in->ours;
  // The first byte picks how to read: each entry point has its own checks.
  const int mode = in->selector % 3;
  char small[64];
  for (;;) {  // each frame takes at least 4 bytes: ends in an error or EOF
    absl::Status s;
    if (mode == 0) {
      absl::StatusOr<std::string> m = c->RecvBytes();
      if (m.ok() && m->size() > mp::fuzz::kMessageCap) std::abort();
      s = m.status();
    } else if (mode == 1) {
      s = c->RecvBytes(std::size_t{100}).status();
    } else {
      absl::StatusOr<std::size_t> n = c->RecvBytesInto(absl::MakeSpan(small));
      if (n.ok() && *n > sizeof small) std::abort();
      s = n.status();
    }
    if (!s.ok()) return 0;
  }
}
