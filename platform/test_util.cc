#include "platform/test_util.h"

#include "absl/strings/escaping.h"
#include "platform/crypto.h"

namespace mp::testing {

const std::string& UniqueToken() {
  static const std::string token = [] {
    std::string random(8, '\0');
    platform::RandomBytes(absl::MakeSpan(random)).IgnoreError();
    return absl::BytesToHexString(random);
  }();
  return token;
}

}  // namespace mp::testing
