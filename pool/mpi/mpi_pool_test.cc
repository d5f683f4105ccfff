// The Pool cases (pool/pool_test_cases.h) on MPI ranks, plus what is MPI's
// own. Run by mpirun_test.sh: `mpirun -np 4 mpi_pool_test_bin`; rank 0 runs
// the tests, ranks 1-3 serve the pools.
#include "multiprocessing/pool/mpi/mpi_pool.h"

#include <cstdio>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "multiprocessing/pool/pool_test_cases.h"

namespace mp::pool_test {
namespace {

INSTANTIATE_TEST_SUITE_P(Mpi, PoolTest,
                         ::testing::Values(PoolFlavor{
                             "mpi",
                             [](Pool::Options options) {
                               return mpi::CreatePool(std::move(options));
                             },
                             /*any_callable=*/false}),
                         PoolFlavorName);

TEST(MpiPoolTest, RanksAndTheirLimits) {
  ASSERT_EQ(mpi::Rank(), 0);
  ASSERT_GE(mpi::Size(), 3) << "run with mpirun -np 3 or more";
  // More workers than ranks: kInvalidArgument, saying how many there are.
  absl::Status too_many = mpi::CreatePool(mpi::Size()).status();
  EXPECT_EQ(too_many.code(), absl::StatusCode::kInvalidArgument) << too_many;
  EXPECT_TRUE(absl::StrContains(too_many.message(), "worker ranks"))
      << too_many;
  // The default: every rank but 0.
  absl::StatusOr<Pool> all = mpi::CreatePool();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->processes(), mpi::Size() - 1);
  // The ranks serve one pool at a time.
  EXPECT_EQ(mpi::CreatePool(1).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(mpi::Finalize().code(), absl::StatusCode::kFailedPrecondition);
  // Every rank takes part.
  std::vector<int> xs(40, 0);
  absl::StatusOr<std::vector<int64_t>> pids = all->Map(Pid, xs, 1);
  ASSERT_TRUE(pids.ok()) << pids.status();
  EXPECT_EQ(std::set<int64_t>(pids->begin(), pids->end()).size(),
            static_cast<std::size_t>(mpi::Size() - 1));
  all->Close();
  ASSERT_TRUE(all->Join().ok());
  // Once joined, the ranks take a new pool.
  absl::StatusOr<Pool> next = mpi::CreatePool(1);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->Apply(Square, int64_t{9}).value(), 81);
}

TEST(MpiPoolTest, AFailingInitializerFailsEveryTask) {
  Pool::Options options;
  options.processes = 2;
  options.set_initializer(FailingInitialize, 3);
  absl::StatusOr<Pool> pool = mpi::CreatePool(std::move(options));
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::Status s = pool->Map(Square, Range(10)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "initializer")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "MPI rank")) << s;
}

}  // namespace
}  // namespace mp::pool_test

int main(int argc, char** argv) {
  if (absl::Status s = mp::mpi::Init(&argc, &argv); !s.ok()) {
    std::fprintf(stderr, "mp::mpi::Init: %s\n", s.ToString().c_str());
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  const int failed = RUN_ALL_TESTS();
  if (absl::Status s = mp::mpi::Finalize(); !s.ok()) {
    std::fprintf(stderr, "mp::mpi::Finalize: %s\n", s.ToString().c_str());
    return 1;
  }
  return failed;
}
