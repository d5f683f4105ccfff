#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"

namespace mp::platform {

absl::Status RandomBytes(absl::Span<char> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastNativeError("getrandom");
    }
    done += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Hmac(absl::string_view digest,
                                 absl::string_view key,
                                 absl::string_view message) {
  const EVP_MD* md = nullptr;
  if (digest == "md5") {
    md = EVP_md5();
  } else if (digest == "sha256") {
    md = EVP_sha256();
  } else if (digest == "sha384") {
    md = EVP_sha384();
  } else if (digest == "sha3_256") {
    md = EVP_sha3_256();
  } else if (digest == "sha3_384") {
    md = EVP_sha3_384();
  }
  if (md == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported digest '", digest, "'"));
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_size = 0;
  if (HMAC(md, key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), out, &out_size) == nullptr) {
    return absl::InternalError(absl::StrCat("HMAC-", digest, " failed"));
  }
  return std::string(reinterpret_cast<char*>(out), out_size);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mp::platform
