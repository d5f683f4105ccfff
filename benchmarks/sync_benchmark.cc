// Synchronisation speed, beside raw baselines in the same run (CPython's in
// sync_cpython.py), as JSON lines:
// - lock_uncontended: ns per Acquire() + Release() of a free Lock, one
//   thread (raw: a process-shared robust pthread mutex, what a C programmer
//   would use); lock_guard_uncontended: the same through std::lock_guard
//   (CPython: `with lock: pass`);
// - event_pingpong: us per round trip between two processes handing the
//   turn back and forth with two Events (raw: the same hand-off on a futex
//   word in MAP_SHARED memory, wake on every hand-off);
// - value_increment_4proc: increments/s of a Value<int64_t> incremented
//   under its lock by 4 processes at once.
// Median of 5 runs each. --quick: fewer iterations.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <vector>

#include "multiprocessing/process/process.h"
#include "multiprocessing/shared_memory/sharedctypes.h"
#include "multiprocessing/sync/synchronize.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double Median(const std::function<double()>& run) {
  std::vector<double> v;
  for (int i = 0; i < 5; ++i) v.push_back(run());
  std::sort(v.begin(), v.end());
  return v[2];
}

void Print(const char* name, double value, const char* unit, const char* impl) {
  std::printf(
      "{\"name\": \"%s\", \"value\": %.4g, \"unit\": \"%s\", \"impl\": "
      "\"%s\"}\n",
      name, value, unit, impl);
  std::fflush(stdout);
}

double LockNs(int64_t n) {
  mp::Lock lock = mp::Lock::Create().value();
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    if (!lock.Acquire().ok() || !lock.Release().ok()) return 0;
  }
  return Seconds(start) * 1e9 / static_cast<double>(n);
}

double LockGuardNs(int64_t n) {
  mp::Lock lock = mp::Lock::Create().value();
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    std::lock_guard<mp::Lock> guard(lock);
  }
  return Seconds(start) * 1e9 / static_cast<double>(n);
}

double RawLockNs(int64_t n) {
  auto* m = static_cast<pthread_mutex_t*>(
      mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE,
           MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(m, &attr);
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
  }
  const double ns = Seconds(start) * 1e9 / static_cast<double>(n);
  munmap(m, sizeof(pthread_mutex_t));
  return ns;
}

double EventRoundTripUs(int64_t n) {
  mp::Event ping = mp::Event::Create().value();
  mp::Event pong = mp::Event::Create().value();
  mp::Process p(
      [](mp::Event& ping, mp::Event& pong, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          ping.Wait();
          ping.Clear();
          pong.Set();
        }
        return 0;
      },
      ping, pong, n);
  if (!p.Start().ok()) return 0;
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    ping.Set();
    pong.Wait();
    pong.Clear();
  }
  const double us = Seconds(start) * 1e6 / static_cast<double>(n);
  if (!p.Join().ok()) return 0;
  return us;
}

long Futex(std::atomic<uint32_t>* w, int op, uint32_t v) {
  return syscall(SYS_futex, w, op, v, nullptr, nullptr, 0);
}

double RawFutexRoundTripUs(int64_t n) {
  auto* w = static_cast<std::atomic<uint32_t>*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
           -1, 0));
  w->store(0);
  const pid_t child = fork();
  if (child == 0) {
    for (int64_t i = 0; i < n; ++i) {
      while (w->load() == 0) Futex(w, FUTEX_WAIT, 0);
      w->store(0);
      Futex(w, FUTEX_WAKE, 1);
    }
    _exit(0);
  }
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    w->store(1);
    Futex(w, FUTEX_WAKE, 1);
    while (w->load() == 1) Futex(w, FUTEX_WAIT, 1);
  }
  const double us = Seconds(start) * 1e6 / static_cast<double>(n);
  waitpid(child, nullptr, 0);
  munmap(w, 4096);
  return us;
}

double ValueIncrementsPerSecond(int64_t per_process) {
  mp::Value<int64_t> v = mp::Value<int64_t>::Create(0).value();
  mp::Event go = mp::Event::Create().value();
  std::vector<mp::Process> ps;
  for (int i = 0; i < 4; ++i) {
    ps.emplace_back(
        [](mp::Value<int64_t>& v, mp::Event& go, int64_t n) {
          go.Wait();
          for (int64_t i = 0; i < n; ++i) {
            std::lock_guard<mp::RLock> g(*v.get_lock());
            ++*v.get_obj();
          }
          return 0;
        },
        v, go, per_process);
  }
  for (mp::Process& p : ps) {
    if (!p.Start().ok()) return 0;
  }
  const Clock::time_point start = Clock::now();
  go.Set();
  for (mp::Process& p : ps) {
    if (!p.Join().ok()) return 0;
  }
  const double s = Seconds(start);
  if (v.value() != 4 * per_process) return 0;
  return 4 * static_cast<double>(per_process) / s;
}

}  // namespace

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int64_t locks = quick ? 1000000 : 20000000;
  const int64_t trips = quick ? 5000 : 50000;
  const int64_t increments = quick ? 50000 : 500000;
  Print("lock_uncontended", Median([&] { return LockNs(locks); }), "ns", "mp");
  Print("lock_guard_uncontended", Median([&] { return LockGuardNs(locks); }),
        "ns", "mp");
  Print("lock_uncontended", Median([&] { return RawLockNs(locks); }), "ns",
        "raw");
  // Interleaved, so both meet the same moments of a busy machine.
  std::vector<double> mine, raw;
  for (int i = 0; i < 5; ++i) {
    mine.push_back(EventRoundTripUs(trips));
    raw.push_back(RawFutexRoundTripUs(trips));
  }
  std::sort(mine.begin(), mine.end());
  std::sort(raw.begin(), raw.end());
  Print("event_pingpong", mine[2], "us", "mp");
  Print("event_pingpong", raw[2], "us", "raw");
  Print("value_increment_4proc",
        Median([&] { return ValueIncrementsPerSecond(increments); }), "ops/s",
        "mp");
  return 0;
}
