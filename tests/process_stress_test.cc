// A thousand processes in a row, each with a Pipe end of its own: every one
// answers, nothing leaks (descriptor count unchanged) and nothing is left
// behind (no child unwaited for, running or zombie). Under every start
// method.
#include <cstdint>
#include <utility>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/test_util.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

int Answer(Connection& conn, int64_t index) {
  return conn.Send(index * index).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(Answer);

using ProcessStressTest = test_util::EveryStartMethod;

TEST_P(ProcessStressTest, AThousandProcessesInARow) {
  ASSERT_FALSE(test_util::HasUnwaitedChildren());
  // One process: start, answer, end of stream, join.
  auto run = [this](int64_t i) {
    auto pipe = Pipe();
    ASSERT_TRUE(pipe.ok()) << pipe.status();
    Process p = Make(Answer, std::move(pipe->second), i);
    absl::Status started = p.Start();
    ASSERT_TRUE(started.ok()) << "process " << i << ": " << started;
    absl::StatusOr<int64_t> answer = pipe->first.Recv<int64_t>();
    ASSERT_TRUE(answer.ok()) << "process " << i << ": " << answer.status();
    EXPECT_EQ(*answer, i * i);
    // The child's end was moved into the Process and closed in the parent
    // by Start(), so after the answer only end of stream can come.
    EXPECT_TRUE(IsEof(pipe->first.Recv<int64_t>().status())) << "process " << i;
    ASSERT_TRUE(p.Join().ok());
    ASSERT_EQ(p.exitcode(), 0) << "process " << i;
  };
  // Handles are counted after the first process, which makes what is made
  // once per parent (on Windows, the job object children join).
  run(0);
  const int before = platform::CountOpenHandles().value();
  for (int64_t i = 1; i < 1000 && !HasFatalFailure(); ++i) run(i);
  EXPECT_EQ(platform::CountOpenHandles().value(), before);
  EXPECT_FALSE(test_util::HasUnwaitedChildren());
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(ProcessStressTest);

}  // namespace
}  // namespace mp
