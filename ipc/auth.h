// The authkey handshake of multiprocessing.connection, wire-compatible with
// CPython (deliver_challenge / answer_challenge).
//
// The side that delivers sends "#CHALLENGE#{sha256}" + 40 random bytes; the
// other answers with "{sha256}" + HMAC-SHA256(authkey, message) and gets
// "#WELCOME#" or "#FAILURE#". For CPython up to 3.11, which sends a 20-byte
// challenge and answers with a bare HMAC-MD5, both directions fall back to
// that legacy form, exactly as CPython 3.12+ does, so C++ talks to every
// CPython 3.x, unless AuthOptions::require_sha256 forbids it. Digests: md5
// (legacy), sha256, sha384, sha3_256, sha3_384.
//
// Every handshake message is limited to 256 bytes, refused from its length
// header, so a peer cannot make us allocate more. Digests are compared in
// constant time. A wrong key, a garbled challenge or an unsupported digest
// is Python's AuthenticationError (mp::IsAuthenticationError,
// kPermissionDenied) on both sides; a message over 256 bytes
// kResourceExhausted; I/O errors pass through (IsEof, kDataLoss), and a
// deadline that passes is mp::IsTimeout.
//
// Note (as in CPython): the answering side MACs whatever challenge it is
// sent; the MAC proves knowledge of the key to that peer only.
#ifndef MULTIPROCESSING_IPC_AUTH_H_
#define MULTIPROCESSING_IPC_AUTH_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/handle.h"

namespace mp {

struct AuthOptions {
  // Only HMAC-SHA256 is answered and accepted: no legacy bare HMAC-MD5
  // (CPython <= 3.11) and no other digest, in either direction.
  bool require_sha256 = false;
};

// One side of the handshake as a state machine that does no I/O, so a
// listener can run many at once (ipc/listener.cc) and a fuzzer can drive it.
// Feed it the peer's bytes, never more than wanted() at a time (so it never
// swallows what follows the handshake), and send what TakeOutput() returns.
class Handshake {
 public:
  // kServer: deliver, then answer (Listener); kClient: answer, then deliver
  // (Client); the other two run one half.
  enum class Role { kServer, kClient, kDeliverOnly, kAnswerOnly };

  Handshake(Role role, std::string authkey, AuthOptions options = {});

  // Starts: the deliverer's challenge is then in the output.
  [[nodiscard]] absl::Status Start();
  // How many bytes may be fed next; 0 once finished (done or failed).
  std::size_t wanted() const;
  // The peer's next bytes (at most wanted()). An error ends the handshake;
  // the output may still hold a "#FAILURE#" to send.
  [[nodiscard]] absl::Status Feed(absl::string_view bytes);
  // The peer ended the stream: IsEof between messages, kDataLoss inside one.
  [[nodiscard]] absl::Status PeerClosed();
  // Framed bytes to send, taken.
  std::string TakeOutput() { return std::move(output_); }
  bool done() const { return step_ == Step::kDone; }
  bool failed() const { return step_ == Step::kFailed; }
  // Whether any byte of the peer's arrived.
  bool heard_from_peer() const { return heard_; }

 private:
  enum class Half { kDeliver, kAnswer };
  enum class Step { kIdle, kResponse, kChallenge, kVerdict, kDone, kFailed };

  [[nodiscard]] absl::Status NextHalf();
  absl::Status OnMessage(absl::string_view message);
  [[nodiscard]] absl::Status Fail(absl::Status s);
  void Send(absl::string_view message);

  std::vector<Half> halves_;
  std::size_t half_ = 0;
  std::string authkey_;
  AuthOptions options_;
  Step step_ = Step::kIdle;
  std::string challenge_;       // the message we delivered (after #CHALLENGE#)
  std::string input_;           // the frame being read: header, then payload
  std::size_t frame_size_ = 0;  // the payload's size once the header is in
  bool heard_ = false;
  std::string output_;
};

// The handshake's I/O on a connection's handle `h`, in the framing `h`
// needs: on a message pipe (platform::IsMessagePipe) each handshake message
// is one pipe message without a length header, as CPython's PipeConnection
// sends it; elsewhere the bytes as framed. SendHandshakeOutput sends what
// TakeOutput() holds. ReadHandshakeInput reads what the peer sent next (at
// most wanted() bytes, or one message) and feeds it; at end of stream it
// returns PeerClosed()'s status. A message over the handshake's limit is
// kResourceExhausted from its size, before room for it is allocated.
[[nodiscard]] absl::Status SendHandshakeOutput(platform::NativeHandle h,
                                               Handshake& handshake);
[[nodiscard]] absl::Status ReadHandshakeInput(platform::NativeHandle h,
                                              Handshake& handshake);

// Runs `handshake` (not started) on `connection` until it finishes or
// `deadline` (an absolute time; nullopt: none) passes: kDeadlineExceeded.
[[nodiscard]] absl::Status RunHandshake(
    Connection& connection, Handshake& handshake,
    std::optional<absl::Time> deadline = std::nullopt);

// Python's deliver_challenge(connection, authkey).
[[nodiscard]] absl::Status DeliverChallenge(Connection& connection,
                                            absl::string_view authkey,
                                            AuthOptions options = {});

// Python's answer_challenge(connection, authkey).
[[nodiscard]] absl::Status AnswerChallenge(Connection& connection,
                                           absl::string_view authkey,
                                           AuthOptions options = {});

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_AUTH_H_
