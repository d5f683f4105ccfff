#include "platform/crypto.h"

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
  EXPECT_EQ(Hmac("sha384", "k", "m")->size(), 48u);
  EXPECT_EQ(Hmac("sha3_256", "k", "m")->size(), 32u);
  EXPECT_EQ(Hmac("sha3_384", "k", "m")->size(), 48u);
  // An empty key is a key.
  EXPECT_EQ(Hex(Hmac("md5", "", "")), "74e6f7298a9c2d168935f58c001bad88");
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
