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
  if (size < 1) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data + 1),
                                size - 1);
  mp::Connection peer;
  std::optional<mp::Connection> c = mp::fuzz::ConnectionReading(bytes, &peer);
  if (!c) return 0;
  // The first byte picks the side we play.
  if (data[0] % 2 == 0) {
    // Our challenge is random, so no fixed input can answer it.
    if (mp::DeliverChallenge(*c, "fuzz key").ok()) std::abort();
  } else {
    (void)mp::AnswerChallenge(*c, "fuzz key");
  }
  return 0;
}
