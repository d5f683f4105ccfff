#include "multiprocessing/platform/crypto.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace mp::platform {
namespace {

std::string Hex(const absl::StatusOr<std::string>& s) {
  return s.ok() ? absl::BytesToHexString(*s) : s.status().ToString();
}

// RFC 2104 / RFC 4231 test vectors, the same values Python's hmac gives.
TEST(CryptoTest, HmacMatchesKnownVectors) {
  EXPECT_EQ(Hex(Hmac("md5", "Jefe", "what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738");
  EXPECT_EQ(Hex(Hmac("sha256", "Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(Hex(Hmac("sha384", "Jefe", "what do ya want for nothing?")),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec373"
            "6322445e8e2240ca5e69e2c78b3239ecfab21649");
  // An empty key is a key.
  EXPECT_EQ(Hex(Hmac("md5", "", "")), "74e6f7298a9c2d168935f58c001bad88");
  EXPECT_EQ(Hex(Hmac("sha256", "", "m")),
            "a64092104c76d9ef65599c33c177609ecd49857456eb28133c4daea25bea960a");
}

// Python's hmac.new(b"k", b"m", "sha3_256"). Windows' BCrypt has SHA-3 only
// from Windows 11 24H2 on; before, the digest is kUnimplemented, not wrong.
TEST(CryptoTest, Sha3WhereTheSystemHasIt) {
  absl::StatusOr<std::string> mac = Hmac("sha3_256", "k", "m");
#if defined(_WIN32)
  if (mac.status().code() == absl::StatusCode::kUnimplemented) {
    GTEST_SKIP() << mac.status();
  }
#endif
  EXPECT_EQ(Hex(mac),
            "1b92d4a22666154356c30c31595306c7db17a27a0fb02efae867f69018d3a876");
  EXPECT_EQ(Hmac("sha3_384", "k", "m")->size(), 48u);
}

TEST(CryptoTest, UnknownDigestIsInvalidArgument) {
  EXPECT_EQ(Hmac("crc32", "k", "m").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CryptoTest, RandomBytesDiffer) {
  std::string a(40, '\0'), b(40, '\0');
  ASSERT_TRUE(RandomBytes(absl::MakeSpan(a)).ok());
  ASSERT_TRUE(RandomBytes(absl::MakeSpan(b)).ok());
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::string(40, '\0'));
}

TEST(CryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace mp::platform
