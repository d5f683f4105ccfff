// Fuzzes the authkey handshake: whatever the peer sends ends in success only
// if it knows the key (and answers our random challenge, which no fixed
// input can), otherwise in a clear error; never a crash, a hang or a large
// allocation (handshake messages are limited to 256 bytes).
//
// The selector byte picks the path: bit 0 the side we play (0: we deliver
// first, as a Listener; 1: we answer first, as a Client); bits 1-2:
//   0  DeliverChallenge / AnswerChallenge on a Connection (blocking reads);
//   1  the Handshake state machine alone, fed the input in pieces of 1 to 7
//      bytes, never more than it wants;
//   2  the concurrent accept path (server side only): 1 to 3 clients (bits
//      3-4) connect to a Listener over TCP and share the input, in pieces
//      taken in turn; every Accept() must fail cleanly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "multiprocessing/fuzz/fuzz_util.h"
#include "multiprocessing/ipc/auth.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/socket.h"

namespace {

constexpr char kKey[] = "fuzz key";

void FuzzConnection(const uint8_t* data, std::size_t size) {
  std::optional<mp::fuzz::PeerInput> in = mp::fuzz::ConnectionFor(data, size);
  if (!in) return;
  if (in->selector % 2 == 0) {
    // Our challenge is random, so no fixed input can answer it.
    if (mp::DeliverChallenge(in->ours, kKey).ok()) std::abort();
  } else {
    (void)mp::AnswerChallenge(in->ours, kKey);
  }
}

void FuzzStateMachine(uint8_t selector, const uint8_t* data, std::size_t size) {
  mp::Handshake h(selector % 2 == 0 ? mp::Handshake::Role::kServer
                                    : mp::Handshake::Role::kClient,
                  kKey);
  if (!h.Start().ok()) std::abort();
  std::size_t at = 0, piece = 0;
  while (at < size && h.wanted() > 0) {
    const std::size_t n = std::min({h.wanted(), size - at, 1 + piece++ % 7});
    const absl::Status s =
        h.Feed(absl::string_view(reinterpret_cast<const char*>(data + at), n));
    at += n;
    // Never more than the two frames of a turn, each 4 + 256 bytes at most.
    if (h.TakeOutput().size() > 2 * (4 + 256)) std::abort();
    if (!s.ok() && !h.failed()) std::abort();
  }
  // Both roles end by checking a MAC of our random challenge.
  if (h.done()) std::abort();
}

void FuzzAccept(uint8_t selector, const uint8_t* data, std::size_t size) {
  if (size > mp::fuzz::kMaxInput) return;
  const std::size_t clients = 1 + (selector >> 3) % 3;
  absl::StatusOr<mp::Listener> listener =
      mp::Listener::Create("127.0.0.1:0", mp::kDefaultBacklog, kKey);
  if (!listener.ok()) std::abort();
  listener->set_handshake_timeout(absl::Milliseconds(200));
  // Pieces of 1 to 7 bytes, dealt to the clients in turn.
  std::vector<std::string> shares(clients);
  for (std::size_t at = 0, piece = 0; at < size; ++piece) {
    const std::size_t n = std::min(size - at, 1 + piece % 7);
    shares[piece % clients].append(reinterpret_cast<const char*>(data + at), n);
    at += n;
  }
  std::vector<mp::platform::ScopedHandle> peers;
  for (const std::string& share : shares) {
    // A client that says nothing and hangs up is dropped without an
    // error, so Accept() would wait for another: only clients that speak.
    if (share.empty()) continue;
    absl::StatusOr<mp::platform::ScopedHandle> peer =
        mp::platform::Connect(listener->address());
    if (!peer.ok()) std::abort();
    const mp::platform::ConstBuffer b[] = {{share.data(), share.size()}};
    if (!mp::platform::WriteAll(peer->get(), b).ok()) std::abort();
    if (!mp::platform::CloseForWriting(*peer).ok()) std::abort();
    peers.push_back(*std::move(peer));
  }
  for (std::size_t i = 0; i < peers.size(); ++i) {
    if (listener->Accept().ok()) std::abort();
  }
  if (listener->pending_handshakes() != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  switch ((selector >> 1) % 4) {
    case 1:
      FuzzStateMachine(selector, data + 1, size - 1);
      break;
    case 2:
      if (selector % 2 == 0) FuzzAccept(selector, data + 1, size - 1);
      break;
    default:
      FuzzConnection(data, size);
      break;
  }
  return 0;
}
