// Helpers for tests of the bad day: signals during blocking calls.
#ifndef MULTIPROCESSING_PLATFORM_TEST_UTIL_H_
#define MULTIPROCESSING_PLATFORM_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <thread>

namespace mp::testing {

// While alive, interrupts the thread that created it with a signal (with a
// no-op handler installed without SA_RESTART, so every blocking system call
// in that thread fails with EINTR) every `period_us` microseconds.
class SignalStorm {
 public:
  explicit SignalStorm(int period_us = 100);
  ~SignalStorm();
  SignalStorm(const SignalStorm&) = delete;
  SignalStorm& operator=(const SignalStorm&) = delete;

  // How many signals were delivered so far.
  std::int64_t delivered() const;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mp::testing

#endif  // MULTIPROCESSING_PLATFORM_TEST_UTIL_H_
