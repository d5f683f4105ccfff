#include "ipc/auth.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ipc/internal/errors.h"
#include "platform/crypto.h"

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

absl::Status AuthError(absl::string_view what) {
  return ipc_internal::AuthenticationError(
      absl::StrCat("authentication failed: ", what));
}

bool IsAllowedDigest(absl::string_view name) {
  return name == "md5" || name == "sha256" || name == "sha384" ||
         name == "sha3_256" || name == "sha3_384";
}

// A message's digest name and MAC or payload: "" (legacy, HMAC-MD5 without
// a prefix) for the legacy sizes, else from its "{name}" prefix.
absl::StatusOr<std::pair<std::string, absl::string_view>> SplitDigest(
    absl::string_view message) {
  if (message.size() == kLegacyChallengeSize ||
      message.size() == kLegacyResponseSize) {
    return std::make_pair(std::string(), message);
  }
  if (absl::StartsWith(message, "{")) {
    const std::size_t close = message.find('}', 1);
    if (close != absl::string_view::npos && close <= kMaxDigestName + 1) {
      std::string name(message.substr(1, close - 1));
      if (IsAllowedDigest(name)) {
        return std::make_pair(std::move(name), message.substr(close + 1));
      }
    }
  }
  return AuthError(
      "unsupported message length, missing digest prefix, or unsupported "
      "digest");
}

}  // namespace

absl::Status DeliverChallenge(Connection& connection,
                              absl::string_view authkey) {
  std::string random(kRandomBytes, '\0');
  if (absl::Status s = platform::RandomBytes(absl::MakeSpan(random)); !s.ok()) {
    return s;
  }
  // The MAC covers the digest prefix too, so a peer cannot downgrade it.
  const std::string message = absl::StrCat("{", kDigest, "}", random);
  if (absl::Status s = connection.SendBytes(absl::StrCat(kChallenge, message));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> response =
      connection.RecvBytes(kMaxHandshakeMessage);
  if (!response.ok()) return response.status();

  absl::Status verdict = [&]() -> absl::Status {
    auto split = SplitDigest(*response);
    if (!split.ok()) return split.status();
    const std::string digest = split->first.empty() ? "md5" : split->first;
    absl::StatusOr<std::string> expected =
        platform::Hmac(digest, authkey, message);
    if (!expected.ok()) return AuthError(expected.status().message());
    if (!platform::ConstantTimeEquals(*expected, split->second)) {
      return AuthError("digest received was wrong");
    }
    return absl::OkStatus();
  }();
  absl::Status sent = connection.SendBytes(verdict.ok() ? kWelcome : kFailure);
  return verdict.ok() ? sent : verdict;
}

absl::Status AnswerChallenge(Connection& connection,
                             absl::string_view authkey) {
  absl::StatusOr<std::string> challenge =
      connection.RecvBytes(kMaxHandshakeMessage);
  if (!challenge.ok()) return challenge.status();
  if (!absl::StartsWith(*challenge, kChallenge)) {
    return AuthError("protocol error, expected a challenge");
  }
  const absl::string_view message =
      absl::string_view(*challenge).substr(kChallenge.size());
  if (message.size() < kLegacyChallengeSize) {
    return AuthError(
        absl::StrCat("challenge too short: ", message.size(), " bytes"));
  }
  auto split = SplitDigest(message);
  if (!split.ok()) return split.status();
  const bool legacy = split->first.empty();
  absl::StatusOr<std::string> mac =
      platform::Hmac(legacy ? "md5" : split->first, authkey, message);
  if (!mac.ok()) return AuthError(mac.status().message());
  const std::string response =
      legacy ? *mac : absl::StrCat("{", split->first, "}", *mac);
  if (absl::Status s = connection.SendBytes(response); !s.ok()) return s;
  absl::StatusOr<std::string> verdict =
      connection.RecvBytes(kMaxHandshakeMessage);
  if (!verdict.ok()) return verdict.status();
  if (*verdict != kWelcome) return AuthError("digest sent was rejected");
  return absl::OkStatus();
}

}  // namespace mp
