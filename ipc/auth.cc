#include "multiprocessing/ipc/auth.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "multiprocessing/ipc/internal/errors.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/poll.h"

namespace mp {
namespace {

constexpr absl::string_view kChallenge = "#CHALLENGE#";
constexpr absl::string_view kWelcome = "#WELCOME#";
constexpr absl::string_view kFailure = "#FAILURE#";
constexpr absl::string_view kDigest = "sha256";
constexpr std::size_t kRandomBytes = 40;
// CPython <= 3.11: a 20-byte challenge, answered by a 16-byte HMAC-MD5.
constexpr std::size_t kLegacyChallengeSize = 20;
constexpr std::size_t kLegacyResponseSize = 16;
constexpr std::size_t kMaxHandshakeMessage = 256;
constexpr std::size_t kMaxDigestName = 20;
constexpr std::size_t kHeaderSize = 4;

absl::Status AuthError(absl::string_view what) {
  return ipc_internal::AuthenticationError(
      absl::StrCat("authentication failed: ", what));
}

bool IsAllowedDigest(absl::string_view name, const AuthOptions& options) {
  if (options.require_sha256) return name == "sha256";
  return name == "md5" || name == "sha256" || name == "sha384" ||
         name == "sha3_256" || name == "sha3_384";
}

// A message's digest name and MAC or payload: "" (legacy, HMAC-MD5 without
// a prefix) for the legacy sizes, else from its "{name}" prefix.
absl::StatusOr<std::pair<std::string, absl::string_view>> SplitDigest(
    absl::string_view message, const AuthOptions& options) {
  if (message.size() == kLegacyChallengeSize ||
      message.size() == kLegacyResponseSize) {
    if (options.require_sha256) {
      return AuthError("legacy HMAC-MD5 refused (require_sha256)");
    }
    return std::make_pair(std::string(), message);
  }
  if (absl::StartsWith(message, "{")) {
    const std::size_t close = message.find('}', 1);
    if (close != absl::string_view::npos && close <= kMaxDigestName + 1) {
      std::string name(message.substr(1, close - 1));
      if (IsAllowedDigest(name, options)) {
        return std::make_pair(std::move(name), message.substr(close + 1));
      }
    }
  }
  return AuthError(
      "unsupported message length, missing digest prefix, or unsupported "
      "digest");
}

}  // namespace

Handshake::Handshake(Role role, std::string authkey, AuthOptions options)
    : authkey_(std::move(authkey)), options_(options) {
  switch (role) {
    case Role::kServer:
      halves_ = {Half::kDeliver, Half::kAnswer};
      break;
    case Role::kClient:
      halves_ = {Half::kAnswer, Half::kDeliver};
      break;
    case Role::kDeliverOnly:
      halves_ = {Half::kDeliver};
      break;
    case Role::kAnswerOnly:
      halves_ = {Half::kAnswer};
      break;
  }
}

absl::Status Handshake::Start() {
  if (step_ != Step::kIdle) {
    return absl::FailedPreconditionError("handshake already started");
  }
  half_ = 0;
  return NextHalf();
}

void Handshake::Send(absl::string_view message) {
  char header[kHeaderSize];
  for (std::size_t i = 0; i < kHeaderSize; ++i) {
    header[i] =
        static_cast<char>(message.size() >> (8 * (kHeaderSize - 1 - i)));
  }
  output_.append(header, kHeaderSize);
  output_.append(message.data(), message.size());
}

absl::Status Handshake::Fail(absl::Status s) {
  step_ = Step::kFailed;
  return s;
}

absl::Status Handshake::NextHalf() {
  if (half_ == halves_.size()) {
    step_ = Step::kDone;
    return absl::OkStatus();
  }
  if (halves_[half_++] == Half::kAnswer) {
    step_ = Step::kChallenge;
    return absl::OkStatus();
  }
  std::string random(kRandomBytes, '\0');
  if (absl::Status s = platform::RandomBytes(absl::MakeSpan(random)); !s.ok()) {
    return Fail(s);
  }
  // The MAC covers the digest prefix too, so a peer cannot downgrade it.
  challenge_ = absl::StrCat("{", kDigest, "}", random);
  Send(absl::StrCat(kChallenge, challenge_));
  step_ = Step::kResponse;
  return absl::OkStatus();
}

std::size_t Handshake::wanted() const {
  if (step_ != Step::kResponse && step_ != Step::kChallenge &&
      step_ != Step::kVerdict) {
    return 0;
  }
  if (input_.size() < kHeaderSize) return kHeaderSize - input_.size();
  return kHeaderSize + frame_size_ - input_.size();
}

absl::Status Handshake::Feed(absl::string_view bytes) {
  if (bytes.size() > wanted()) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "handshake fed ", bytes.size(), " bytes, wanted ", wanted())));
  }
  if (!bytes.empty()) heard_ = true;
  input_.append(bytes.data(), bytes.size());
  if (input_.size() == kHeaderSize && frame_size_ == 0) {
    uint32_t length = 0;
    for (unsigned char c : input_) length = (length << 8) | c;
    // A negative length (or -1, a long frame) is over the limit too.
    if (length > kMaxHandshakeMessage) {
      return Fail(absl::ResourceExhaustedError(absl::StrCat(
          "bad message length: a handshake message of ",
          static_cast<int32_t>(length) == -1
              ? std::string("more than 2 GiB")
              : absl::StrCat(static_cast<int32_t>(length), " bytes"),
          " exceeds the limit of ", kMaxHandshakeMessage)));
    }
    frame_size_ = length;
  }
  if (input_.size() < kHeaderSize ||
      input_.size() < kHeaderSize + frame_size_) {
    return absl::OkStatus();
  }
  const std::string message = input_.substr(kHeaderSize);
  input_.clear();
  frame_size_ = 0;
  absl::Status s = OnMessage(message);
  return s.ok() ? s : Fail(s);
}

absl::Status Handshake::PeerClosed() {
  const bool inside = !input_.empty();
  step_ = Step::kFailed;
  if (inside) {
    return absl::DataLossError("connection closed inside a handshake message");
  }
  return EofError("the other end closed the connection during the handshake");
}

absl::Status Handshake::OnMessage(absl::string_view message) {
  switch (step_) {
    case Step::kResponse: {
      absl::Status verdict = [&]() -> absl::Status {
        auto split = SplitDigest(message, options_);
        if (!split.ok()) return split.status();
        const std::string digest = split->first.empty() ? "md5" : split->first;
        absl::StatusOr<std::string> expected =
            platform::Hmac(digest, authkey_, challenge_);
        if (!expected.ok()) return AuthError(expected.status().message());
        if (!platform::ConstantTimeEquals(*expected, split->second)) {
          return AuthError("digest received was wrong");
        }
        return absl::OkStatus();
      }();
      Send(verdict.ok() ? kWelcome : kFailure);
      if (!verdict.ok()) return verdict;
      return NextHalf();
    }
    case Step::kChallenge: {
      if (!absl::StartsWith(message, kChallenge)) {
        return AuthError("protocol error, expected a challenge");
      }
      const absl::string_view body = message.substr(kChallenge.size());
      if (body.size() < kLegacyChallengeSize) {
        return AuthError(
            absl::StrCat("challenge too short: ", body.size(), " bytes"));
      }
      auto split = SplitDigest(body, options_);
      if (!split.ok()) return split.status();
      const bool legacy = split->first.empty();
      absl::StatusOr<std::string> mac =
          platform::Hmac(legacy ? "md5" : split->first, authkey_, body);
      if (!mac.ok()) return AuthError(mac.status().message());
      Send(legacy ? *mac : absl::StrCat("{", split->first, "}", *mac));
      step_ = Step::kVerdict;
      return absl::OkStatus();
    }
    case Step::kVerdict:
      if (message != kWelcome) return AuthError("digest sent was rejected");
      return NextHalf();
    default:
      return absl::FailedPreconditionError("handshake is not reading");
  }
}

absl::Status SendHandshakeOutput(platform::NativeHandle h,
                                 Handshake& handshake) {
  const std::string out = handshake.TakeOutput();
  if (out.empty()) return absl::OkStatus();
  if (!platform::IsMessagePipe(h)) {
    const platform::ConstBuffer b[] = {{out.data(), out.size()}};
    return platform::WriteAll(h, b);
  }
  // The output is framed messages (our own): each payload is one message.
  absl::string_view rest = out;
  while (rest.size() >= kHeaderSize) {
    std::size_t size = 0;
    for (std::size_t i = 0; i < kHeaderSize; ++i) {
      size = (size << 8) | static_cast<unsigned char>(rest[i]);
    }
    if (size > rest.size() - kHeaderSize) break;
    const platform::ConstBuffer b[] = {{rest.data() + kHeaderSize, size}};
    if (absl::Status s = platform::WriteMessage(h, b); !s.ok()) return s;
    rest.remove_prefix(kHeaderSize + size);
  }
  if (!rest.empty()) {
    return absl::InternalError("handshake output is not whole frames");
  }
  return absl::OkStatus();
}

absl::Status ReadHandshakeInput(platform::NativeHandle h,
                                Handshake& handshake) {
  if (platform::IsMessagePipe(h)) {
    std::string message;
    absl::StatusOr<bool> got =
        platform::ReadMessage(h, &message, kMaxHandshakeMessage);
    if (!got.ok()) {
      if (got.status().code() == absl::StatusCode::kResourceExhausted) {
        return absl::ResourceExhaustedError(
            absl::StrCat("bad message length: a handshake message: ",
                         got.status().message()));
      }
      return got.status();
    }
    if (!*got) return handshake.PeerClosed();
    // Fed as the frame it would be on a byte stream: header, then payload.
    char header[kHeaderSize];
    for (std::size_t i = 0; i < kHeaderSize; ++i) {
      header[i] =
          static_cast<char>(message.size() >> (8 * (kHeaderSize - 1 - i)));
    }
    if (absl::Status s = handshake.Feed(absl::string_view(header, kHeaderSize));
        !s.ok() || message.empty()) {
      return s;
    }
    return handshake.Feed(message);
  }
  char buffer[kMaxHandshakeMessage + kHeaderSize];
  absl::StatusOr<std::size_t> got = platform::ReadSome(
      h, buffer, std::min(sizeof buffer, handshake.wanted()));
  if (!got.ok()) return got.status();
  if (*got == 0) return handshake.PeerClosed();
  return handshake.Feed(absl::string_view(buffer, *got));
}

absl::Status RunHandshake(Connection& connection, Handshake& handshake,
                          std::optional<absl::Time> deadline) {
  if (connection.closed()) {
    return absl::FailedPreconditionError("handle is closed");
  }
  const platform::NativeHandle h = connection.fileno();
  absl::Status status = handshake.Start();
  while (status.ok() && !handshake.done()) {
    if (status = SendHandshakeOutput(h, handshake); !status.ok()) break;
    if (connection.bytes_received_ahead() > 0) {
      // The peer's bytes that came with an earlier message come first.
      char buffer[kMaxHandshakeMessage + kHeaderSize];
      const std::size_t got = connection.TakeReceivedAhead(
          buffer, std::min(sizeof buffer, handshake.wanted()));
      status = handshake.Feed(absl::string_view(buffer, got));
      continue;
    }
    if (deadline) {
      absl::StatusOr<std::vector<std::size_t>> ready =
          platform::WaitReadable({&h, 1}, *deadline - absl::Now());
      if (!ready.ok()) {
        status = ready.status();
        break;
      }
      if (ready->empty()) {
        status =
            TimeoutError("the handshake did not finish before its deadline");
        break;
      }
    }
    status = ReadHandshakeInput(h, handshake);
  }
  // What is left to send: the last verdict, or a "#FAILURE#".
  absl::Status sent = SendHandshakeOutput(h, handshake);
  return status.ok() ? sent : status;
}

absl::Status DeliverChallenge(Connection& connection, absl::string_view authkey,
                              AuthOptions options) {
  Handshake h(Handshake::Role::kDeliverOnly, std::string(authkey), options);
  return RunHandshake(connection, h);
}

absl::Status AnswerChallenge(Connection& connection, absl::string_view authkey,
                             AuthOptions options) {
  Handshake h(Handshake::Role::kAnswerOnly, std::string(authkey), options);
  return RunHandshake(connection, h);
}

}  // namespace mp
