// Cryptography from the system, never hand-written: random bytes from the
// OS and HMAC from OpenSSL's libcrypto (BCrypt on Windows, later). Used by
// the authkey handshake of Listener/Client and for fresh authkeys.
#ifndef MULTIPROCESSING_PLATFORM_CRYPTO_H_
#define MULTIPROCESSING_PLATFORM_CRYPTO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace mp::platform {

// Fills `out` with cryptographically secure random bytes.
[[nodiscard]] absl::Status RandomBytes(absl::Span<char> out);

// HMAC of `message` under `key` with the named digest: Python's hashlib
// names "md5", "sha256", "sha384", "sha3_256", "sha3_384". Another name is
// kInvalidArgument.
[[nodiscard]] absl::StatusOr<std::string> Hmac(absl::string_view digest,
                                               absl::string_view key,
                                               absl::string_view message);

// Compares in time that depends only on the sizes (hmac.compare_digest).
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_CRYPTO_H_
