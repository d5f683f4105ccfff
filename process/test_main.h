// For tests linked with //process:test_main that run each case under every
// start method:
//
//   using QueueTest = mp::test_util::EveryStartMethod;
//   TEST_P(QueueTest, ...) { Process p = Make(Target, args...); ... }
//   MP_INSTANTIATE_FOR_EVERY_START_METHOD(QueueTest);
#ifndef MULTIPROCESSING_PROCESS_TEST_MAIN_H_
#define MULTIPROCESSING_PROCESS_TEST_MAIN_H_

#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "multiprocessing/process/process.h"

namespace mp::test_util {

class EveryStartMethod : public ::testing::TestWithParam<StartMethod> {
 protected:
  // A Process for the start method this case runs under.
  template <typename... Args>
  Process Make(Args&&... args) {
    return GetContext(GetParam()).value().Process(std::forward<Args>(args)...);
  }
};

// "fork", "spawn": the case names' suffix.
inline std::string StartMethodTestName(
    const ::testing::TestParamInfo<StartMethod>& info) {
  return std::string(StartMethodName(info.param));
}

}  // namespace mp::test_util

#define MP_INSTANTIATE_FOR_EVERY_START_METHOD(fixture)                      \
  INSTANTIATE_TEST_SUITE_P(Methods, fixture,                                \
                           ::testing::ValuesIn(::mp::GetAllStartMethods()), \
                           ::mp::test_util::StartMethodTestName)

#endif  // MULTIPROCESSING_PROCESS_TEST_MAIN_H_
