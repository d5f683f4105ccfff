// The cases mp::Pool passes, shared by every kind of pool: pool_test.cc runs
// them under each local start method (spawn: the workers are the test
// binary started again, running the registered tasks below), and
// pool/mpi/mpi_pool_test.cc on MPI ranks. Include it in one test file per
// binary, then instantiate PoolTest:
//
//   INSTANTIATE_TEST_SUITE_P(Methods, PoolTest,
//                            ::testing::ValuesIn(LocalPoolFlavors()),
//                            PoolFlavorName);
#ifndef MULTIPROCESSING_POOL_POOL_TEST_CASES_H_
#define MULTIPROCESSING_POOL_POOL_TEST_CASES_H_

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <future>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/pool/pool.h"

namespace mp {
namespace pool_test {

int64_t Square(int64_t x) { return x * x; }
MP_REGISTER_TASK(Square);

std::string Concat(std::string a, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += a;
  return out;
}
MP_REGISTER_TASK(Concat);

[[nodiscard]] absl::StatusOr<int> FailOnSeven(int x) {
  if (x == 7) return absl::OutOfRangeError("seven is not allowed");
  return x;
}
MP_REGISTER_TASK(FailOnSeven);

int Throws(int x) {
  if (x == 3) throw std::runtime_error("three");
  return x;
}
MP_REGISTER_TASK(Throws);

int64_t SleepMs(int64_t ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}
MP_REGISTER_TASK(SleepMs);

// Dies the hard way on 5 (SIGKILL where there are signals).
int DieOnFive(int x) {
  if (x == 5) {
#ifdef SIGKILL
    std::raise(SIGKILL);
#endif
    std::abort();
  }
  absl::SleepFor(absl::Milliseconds(20));
  return x;
}
MP_REGISTER_TASK(DieOnFive);

int64_t Pid(int) { return CurrentProcess().pid(); }
MP_REGISTER_TASK(Pid);

int initialized_with = 0;
void Initialize(int v) { initialized_with = v; }
MP_REGISTER_TASK(Initialize);
int Initialized(int) { return initialized_with; }
MP_REGISTER_TASK(Initialized);
[[nodiscard]] absl::Status FailingInitialize(int v) {
  return absl::FailedPreconditionError(absl::StrCat("no ", v));
}
MP_REGISTER_TASK(FailingInitialize);

// A kind of pool the cases run on: a local start method, or another backend
// (pool/mpi/mpi_pool_test.cc instantiates them for MPI ranks).
struct PoolFlavor {
  std::string name;  // the cases' suffix: "fork", "spawn", "mpi"
  // Makes a pool from options (their start method is the flavor's).
  std::function<absl::StatusOr<Pool>(Pool::Options)> create;
  // Any callable runs (fork), not only registered functions.
  bool any_callable = false;
};

inline std::string PoolFlavorName(
    const ::testing::TestParamInfo<PoolFlavor>& info) {
  return info.param.name;
}

// Pools of this process's children, under every start method.
inline std::vector<PoolFlavor> LocalPoolFlavors() {
  std::vector<PoolFlavor> flavors;
  for (StartMethod method : GetAllStartMethods()) {
    flavors.push_back(PoolFlavor{StartMethodName(method),
                                 [method](Pool::Options options) {
                                   options.start_method = method;
                                   return Pool::Create(std::move(options));
                                 },
                                 method == StartMethod::kFork});
  }
  return flavors;
}

class PoolTest : public ::testing::TestWithParam<PoolFlavor> {
 protected:
  [[nodiscard]] absl::StatusOr<Pool> Create(Pool::Options options) {
    return GetParam().create(std::move(options));
  }
  Pool MakePool(int processes = 2) {
    Pool::Options options;
    options.processes = processes;
    absl::StatusOr<Pool> pool = Create(std::move(options));
    EXPECT_TRUE(pool.ok()) << pool.status();
    return std::move(*pool);
  }
};

std::vector<int64_t> Range(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}
MP_REGISTER_TASK(Range);

TEST_P(PoolTest, MapKeepsOrder) {
  Pool pool = MakePool();
  absl::StatusOr<std::vector<int64_t>> squares = pool.Map(Square, Range(1000));
  ASSERT_TRUE(squares.ok()) << squares.status();
  ASSERT_EQ(squares->size(), 1000u);
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ((*squares)[i], i * i);
  // Explicit chunk sizes, and the empty list.
  EXPECT_EQ(pool.Map(Square, Range(10), 1).value(),
            pool.Map(Square, Range(10), 7).value());
  EXPECT_TRUE(pool.Map(Square, std::vector<int64_t>()).value().empty());
  pool.Close();
  EXPECT_TRUE(pool.Join().ok());
}

TEST_P(PoolTest, ApplyStarmapAndAsyncResults) {
  Pool pool = MakePool();
  EXPECT_EQ(pool.Apply(Concat, std::string("ab"), 3).value(), "ababab");
  // A task whose one result is a list (not a map's list of results).
  EXPECT_EQ(pool.ApplyAsync(Range, int64_t{3}).Get().value(), Range(3));
  std::vector<std::tuple<std::string, int>> args = {{"x", 2}, {"yz", 1}};
  EXPECT_EQ(pool.Starmap(Concat, args).value(),
            (std::vector<std::string>{"xx", "yz"}));

  AsyncResult<int64_t> slow = pool.ApplyAsync(SleepMs, int64_t{300});
  EXPECT_FALSE(slow.Ready());
  EXPECT_EQ(slow.Successful().status().code(),
            absl::StatusCode::kInvalidArgument);  // not ready
  EXPECT_TRUE(IsTimeout(slow.Get(absl::Milliseconds(10)).status()));
  EXPECT_FALSE(slow.Wait(absl::Milliseconds(1)));
  EXPECT_EQ(slow.Get().value(), 300);
  EXPECT_TRUE(slow.Ready());
  EXPECT_TRUE(slow.Successful().value());

  // Callbacks run on the pool's thread once the result is in.
  // std::promise, not absl::Notification: ThreadSanitizer sees it with
  // Debian's uninstrumented Abseil.
  std::promise<std::vector<int64_t>> got;
  MapResult<int64_t> m =
      pool.MapAsync(Square, Range(5), 0,
                    [&](const std::vector<int64_t>& v) { got.set_value(v); });
  std::future<std::vector<int64_t>> seen_future = got.get_future();
  ASSERT_EQ(seen_future.wait_for(std::chrono::seconds(30)),
            std::future_status::ready);
  const std::vector<int64_t> seen = seen_future.get();
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 4, 9, 16}));
  EXPECT_EQ(m.Get().value(), seen);

  std::promise<absl::Status> failed;
  AsyncResult<int> f = pool.ApplyAsyncWithCallbacks(
      FailOnSeven, std::make_tuple(7), nullptr,
      [&](const absl::Status& s) { failed.set_value(s); });
  std::future<absl::Status> failed_future = failed.get_future();
  ASSERT_EQ(failed_future.wait_for(std::chrono::seconds(30)),
            std::future_status::ready);
  const absl::Status error = failed_future.get();
  EXPECT_EQ(error.code(), absl::StatusCode::kOutOfRange);
  EXPECT_FALSE(f.Successful().value());
}

TEST_P(PoolTest, ATaskErrorIsThatItemsError) {
  Pool pool = MakePool();
  std::vector<int> xs = {1, 2, 7, 8};
  absl::Status s = pool.Map(FailOnSeven, xs).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s.message(), "seven is not allowed");
  absl::Status thrown = pool.Apply(Throws, 3).status();
  EXPECT_EQ(thrown.code(), absl::StatusCode::kUnknown);
  EXPECT_TRUE(absl::StrContains(thrown.message(), "three")) << thrown;
  // The pool goes on, and imap reports the failed item and goes past it.
  ImapIterator<int> it = pool.Imap(FailOnSeven, xs.begin(), xs.end());
  EXPECT_EQ(it.Next().value(), 1);
  EXPECT_EQ(it.Next().value(), 2);
  EXPECT_EQ(it.Next().status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(it.Next().value(), 8);
  EXPECT_EQ(it.Next().value(), std::nullopt);
}

// An input iterator that counts how far the pool has read it.
struct CountingIterator {
  using iterator_category = std::input_iterator_tag;
  using value_type = int64_t;
  using difference_type = std::ptrdiff_t;
  using pointer = const int64_t*;
  using reference = int64_t;
  int64_t i = 0;
  std::atomic<int64_t>* read = nullptr;
  int64_t operator*() const {
    read->store(std::max(read->load(), i + 1));
    return i;
  }
  CountingIterator& operator++() {
    ++i;
    return *this;
  }
  bool operator!=(const CountingIterator& o) const { return i != o.i; }
};

TEST_P(PoolTest, ImapReadsItsInputLazilyAndKeepsOrder) {
  Pool pool = MakePool();
  std::atomic<int64_t> read{0};
  CountingIterator begin{0, &read}, end{60, &read};
  ImapIterator<int64_t> it = pool.Imap(SleepMs, begin, end);
  EXPECT_EQ(it.Next().value(), 0);
  // Two workers, chunks of one: the input is read as workers free up, not
  // all at once.
  EXPECT_LT(read.load(), 10);
  for (int64_t i = 1; i < 60; ++i) {
    absl::StatusOr<std::optional<int64_t>> v = it.Next();
    ASSERT_TRUE(v.ok() && v->has_value()) << i;
    EXPECT_EQ(**v, i);
  }
  EXPECT_EQ(it.Next().value(), std::nullopt);

  std::vector<int64_t> xs = Range(50);
  ImapIterator<int64_t> u = pool.ImapUnordered(Square, xs.begin(), xs.end(), 3);
  std::set<int64_t> got;
  for (;;) {
    absl::StatusOr<std::optional<int64_t>> v = u.Next(absl::Seconds(30));
    ASSERT_TRUE(v.ok()) << v.status();
    if (!*v) break;
    got.insert(**v);
  }
  EXPECT_EQ(got.size(), 50u);
  EXPECT_EQ(*got.rbegin(), 49 * 49);
}

TEST_P(PoolTest, AWorkerKilledMidMapFailsItsTaskAndIsReplaced) {
  Pool pool = MakePool();
  const std::vector<int64_t> before = pool.WorkerPids();
  std::vector<int> xs;
  for (int i = 0; i < 12; ++i) xs.push_back(i);
  const absl::Time start = absl::Now();
  absl::Status s = pool.Map(DieOnFive, xs, 1).status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(60));  // never a hang
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
#ifdef SIGKILL
  EXPECT_TRUE(absl::StrContains(s.message(), "died with signal 9")) << s;
#endif
  EXPECT_TRUE(absl::StrContains(s.message(), "while running a task")) << s;
  // The pool replaced the worker and goes on.
  EXPECT_EQ(pool.Map(Square, Range(20)).value().size(), 20u);
  const std::vector<int64_t> after = pool.WorkerPids();
  EXPECT_EQ(after.size(), 2u);
  EXPECT_NE(after, before);
  pool.Close();
  ASSERT_TRUE(pool.Join().ok());
  for (int64_t pid : after) EXPECT_TRUE(test_util::IsGone(pid)) << pid;
}

TEST_P(PoolTest, MaxTasksPerChildReplacesWorkersAndLeavesNothingBehind) {
  const int handles_before = platform::CountOpenHandles().value();
  std::set<int64_t> pids;
  {
    Pool::Options options;
    options.processes = 2;
    options.maxtasksperchild = 1;
    Pool pool = Create(std::move(options)).value();
    std::vector<int> xs(50, 0);
    absl::StatusOr<std::vector<int64_t>> got = pool.Map(Pid, xs, 1);
    ASSERT_TRUE(got.ok()) << got.status();
    pids.insert(got->begin(), got->end());
    pool.Close();
    ASSERT_TRUE(pool.Join().ok());
  }
  EXPECT_EQ(pids.size(), 50u);  // one task per worker: 50 workers
  for (int64_t pid : pids) EXPECT_TRUE(test_util::IsGone(pid)) << pid;
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
  EXPECT_EQ(platform::CountOpenHandles().value(), handles_before);
}

TEST_P(PoolTest, TerminateStopsALongMapAtOnce) {
  Pool pool = MakePool();
  const std::vector<int64_t> pids = pool.WorkerPids();
  MapResult<int64_t> long_map =
      pool.MapAsync(SleepMs, std::vector<int64_t>(40, 500), 1);
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  pool.Terminate();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  absl::Status s = long_map.Get(absl::Seconds(10)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  ASSERT_TRUE(pool.Join().ok());
  for (int64_t pid : pids) EXPECT_TRUE(test_util::IsGone(pid)) << pid;
  EXPECT_EQ(pool.Apply(Square, int64_t{2}).status().code(),
            absl::StatusCode::kInvalidArgument);  // Pool not running
}

TEST_P(PoolTest, CloseAndJoinFollowPython) {
  Pool pool = MakePool();
  EXPECT_EQ(pool.Join().code(), absl::StatusCode::kInvalidArgument);
  MapResult<int64_t> pending =
      pool.MapAsync(SleepMs, std::vector<int64_t>(4, 50));
  pool.Close();
  EXPECT_EQ(pool.Apply(Square, int64_t{2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(pool.Join().ok());  // the submitted work finishes first
  EXPECT_EQ(pending.Get(absl::ZeroDuration()).value().size(), 4u);
  Pool::Options none;
  none.processes = 0;
  EXPECT_EQ(Create(std::move(none)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(PoolTest, Initializer) {
  Pool::Options options;
  options.processes = 2;
  options.set_initializer(Initialize, 42);
  Pool pool = Create(std::move(options)).value();
  EXPECT_EQ(pool.Map(Initialized, std::vector<int>(6, 0)).value(),
            std::vector<int>(6, 42));
}

TEST_P(PoolTest, AnyCallableUnderForkRegisteredOnesUnderSpawn) {
  Pool pool = MakePool();
  int64_t offset = 1000;  // not a constant: the lambda must capture it
  auto add_offset = [offset](int64_t x) { return x + offset; };
  absl::StatusOr<std::vector<int64_t>> got = pool.Map(add_offset, Range(3));
  if (GetParam().any_callable) {
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, (std::vector<int64_t>{1000, 1001, 1002}));
    // A second new callable: workers are replaced to learn it.
    auto twice = [](int64_t x) { return 2 * x; };
    EXPECT_EQ(pool.Map(twice, Range(3)).value(),
              (std::vector<int64_t>{0, 2, 4}));
  } else {
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(got.status().message(), "MP_REGISTER_TASK"));
  }
}

}  // namespace pool_test
}  // namespace mp

#endif  // MULTIPROCESSING_POOL_POOL_TEST_CASES_H_
