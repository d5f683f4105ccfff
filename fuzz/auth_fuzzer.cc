// Fuzzes the authkey handshake reader: whatever the peer sends during
// deliver_challenge / answer_challenge ends in success only if it knows the
// key, otherwise in a clear error; never a crash, a hang or a large
// allocation (handshake messages are read with maxlength 256).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "ipc/auth.h"
#include "ipc/connection.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::optional<mp::fuzz::PeerInput> in = mp::fuzz::ConnectionFor(data, size);
  if (!in) return 0;
  // The first byte picks the side we play.
  if (in->selector % 2 == 0) {
    // Our challenge is random, so no fixed input can answer it.
    if (mp::DeliverChallenge(in->ours, "fuzz key").ok()) std::abort();
  } else {
    (void)mp::AnswerChallenge(in->ours, "fuzz key");
  }
  return 0;
}
