// mp::Pool under every start method: the cases are in pool_test_cases.h,
// shared with the MPI backend's test (pool/mpi/mpi_pool_test.cc).
#include "gtest/gtest.h"
#include "multiprocessing/pool/pool_test_cases.h"
#include "multiprocessing/process/test_main.h"

namespace mp::pool_test {
namespace {

INSTANTIATE_TEST_SUITE_P(Methods, PoolTest,
                         ::testing::ValuesIn(LocalPoolFlavors()),
                         PoolFlavorName);

}  // namespace
}  // namespace mp::pool_test
