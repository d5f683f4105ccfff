#include <windows.h>
// bcrypt.h needs windows.h first.
#include <bcrypt.h>

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"

namespace mp::platform {
namespace {

absl::Status BCryptError(NTSTATUS status, absl::string_view operation) {
  return absl::InternalError(absl::StrCat(
      operation, " failed with NTSTATUS 0x",
      absl::Hex(static_cast<unsigned long>(status), absl::kZeroPad8)));
}

// BCrypt's name for one of Python's hashlib names; nullptr when unknown.
const wchar_t* AlgorithmFor(absl::string_view digest) {
  if (digest == "md5") return BCRYPT_MD5_ALGORITHM;
  if (digest == "sha256") return BCRYPT_SHA256_ALGORITHM;
  if (digest == "sha384") return BCRYPT_SHA384_ALGORITHM;
  // Newer Windows SDKs name these BCRYPT_SHA3_256_ALGORITHM etc.
  if (digest == "sha3_256") return L"SHA3-256";
  if (digest == "sha3_384") return L"SHA3-384";
  return nullptr;
}

}  // namespace

absl::Status RandomBytes(absl::Span<char> out) {
  // One call takes at most ULONG bytes.
  while (!out.empty()) {
    const ULONG n =
        static_cast<ULONG>(std::min<std::size_t>(out.size(), 1 << 30));
    const NTSTATUS status =
        BCryptGenRandom(nullptr, reinterpret_cast<PUCHAR>(out.data()), n,
                        BCRYPT_USE_SYSTEM_PREFERRED_RNG);
    if (!BCRYPT_SUCCESS(status)) return BCryptError(status, "BCryptGenRandom");
    out.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Hmac(absl::string_view digest,
                                 absl::string_view key,
                                 absl::string_view message) {
  const wchar_t* algorithm = AlgorithmFor(digest);
  if (algorithm == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported digest '", digest, "'"));
  }
  BCRYPT_ALG_HANDLE alg = nullptr;
  NTSTATUS status = BCryptOpenAlgorithmProvider(&alg, algorithm, nullptr,
                                                BCRYPT_ALG_HANDLE_HMAC_FLAG);
  if (!BCRYPT_SUCCESS(status)) {
    // SHA-3 arrived in Windows 11 24H2; older systems do not have it.
    return absl::UnimplementedError(absl::StrCat(
        "HMAC-", digest, " is not available from this system's BCrypt"));
  }
  std::string out;
  DWORD size = 0;
  ULONG got = 0;
  BCRYPT_HASH_HANDLE hash = nullptr;
  status =
      BCryptGetProperty(alg, BCRYPT_HASH_LENGTH,
                        reinterpret_cast<PUCHAR>(&size), sizeof(size), &got, 0);
  if (BCRYPT_SUCCESS(status)) {
    // HMAC pads a short key with zero bytes to the block size, so the empty
    // key and the key "\0" are the same key; some BCrypt implementations
    // (Wine's) refuse a secret of length 0.
    static UCHAR zero = 0;
    status = BCryptCreateHash(
        alg, &hash, nullptr, 0,
        key.empty() ? &zero
                    : reinterpret_cast<PUCHAR>(const_cast<char*>(key.data())),
        key.empty() ? 1 : static_cast<ULONG>(key.size()), 0);
  }
  if (BCRYPT_SUCCESS(status) && !message.empty()) {
    status = BCryptHashData(
        hash, reinterpret_cast<PUCHAR>(const_cast<char*>(message.data())),
        static_cast<ULONG>(message.size()), 0);
  }
  if (BCRYPT_SUCCESS(status)) {
    out.resize(size);
    status =
        BCryptFinishHash(hash, reinterpret_cast<PUCHAR>(out.data()), size, 0);
  }
  if (hash != nullptr) BCryptDestroyHash(hash);
  BCryptCloseAlgorithmProvider(alg, 0);
  if (!BCRYPT_SUCCESS(status)) return BCryptError(status, "HMAC");
  return out;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  // No short cut: every byte is looked at whatever the earlier ones were.
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace mp::platform
