// main() for test binaries that spawn children: a spawned child runs its
// target inside mp::Init and never reaches the tests.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/process/process.h"

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  ::testing::InitGoogleMock(&argc, argv);
  return RUN_ALL_TESTS();
}
