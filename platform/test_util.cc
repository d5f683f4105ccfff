#include "multiprocessing/platform/test_util.h"

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "multiprocessing/platform/crypto.h"

namespace mp::test_util {

const std::string& UniqueToken() {
  static const std::string token = [] {
    std::string random(8, '\0');
    platform::RandomBytes(absl::MakeSpan(random)).IgnoreError();
    return absl::BytesToHexString(random);
  }();
  return token;
}

bool WaitUntilGone(std::int64_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (ProcessExists(pid)) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace mp::test_util
