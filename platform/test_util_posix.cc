#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "multiprocessing/platform/test_util.h"

namespace mp::test_util {

std::string LocalAddress(absl::string_view name) {
  return absl::StrCat("/tmp/mp-test-", UniqueToken(), "-", name);
}

namespace {
std::atomic<std::int64_t> g_delivered{0};
void CountSignal(int) { g_delivered.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

SignalStorm::SignalStorm(int period_us, int signal_number)
    : start_count_(g_delivered.load()) {
  struct sigaction sa = {};
  sa.sa_handler = CountSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: interrupted calls return EINTR
  sigaction(signal_number, &sa, nullptr);
  const pthread_t target = pthread_self();
  thread_ = std::thread([this, target, period_us, signal_number] {
    const struct timespec pause = {period_us / 1000000,
                                   (period_us % 1000000) * 1000L};
    while (!stop_.load()) {
      pthread_kill(target, signal_number);
      nanosleep(&pause, nullptr);
    }
  });
}

SignalStorm::~SignalStorm() {
  stop_.store(true);
  thread_.join();
  // A signal sent just before the join may not have been handled yet (under
  // ThreadSanitizer, handlers run late, at the next intercepted call). Give
  // it time to land here, so the next storm does not count it.
  const struct timespec drain = {0, 20 * 1000 * 1000};
  nanosleep(&drain, nullptr);
}

std::int64_t SignalStorm::delivered() const {
  return g_delivered.load() - start_count_;
}

const int kAbortExitCode = -SIGABRT;

namespace {
// A "Name:  value kB" line of /proc/self/status.
std::int64_t StatusKiB(const std::string& name) {
  std::ifstream status("/proc/self/status");
  std::string key;
  std::int64_t value = 0;
  while (status >> key) {
    if (key == name) {
      status >> value;
      return value;
    }
    status.ignore(1 << 10, '\n');
  }
  return -1;
}
}  // namespace

std::int64_t ResidentKiB() { return StatusKiB("VmRSS:"); }
std::int64_t PeakResidentKiB() { return StatusKiB("VmHWM:"); }

bool IsZombie(std::int64_t pid) {
  siginfo_t info = {};
  return waitid(P_PID, static_cast<id_t>(pid), &info,
                WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

bool IsGone(std::int64_t pid) {
  return waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG) == -1 &&
         errno == ECHILD;
}

bool ProcessExists(std::int64_t pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool HasUnwaitedChildren() {
  siginfo_t info = {};
  // WNOWAIT: look without reaping. ECHILD: no child at all.
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

}  // namespace mp::test_util
