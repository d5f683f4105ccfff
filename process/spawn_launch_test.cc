// Spawn start method, issue 22: what crosses into a spawned child and how
// Start() learns that a child died before answering.
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/process/process.h"

namespace mp {
namespace {

using ::testing::HasSubstr;

int SendOverSocket(Connection& out) {
  return out.Send(std::string("over tcp")).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(SendOverSocket);

// POSIX children inherit a TCP connection like any descriptor. On Windows
// a socket cannot be DuplicateHandle'd into another process: the parent
// shares it with WSADuplicateSocket and the child makes its own socket of
// what that gave (platform::ImportSocket).
TEST(SpawnLaunchTest, ATcpConnectionCrossesToASpawnedChild) {
  Listener listener = Listener::Create("127.0.0.1:0").value();
  Connection client = Client(listener.address()).value();
  Connection server = listener.Accept().value();
  Process p(SendOverSocket, std::move(server));
  ASSERT_TRUE(p.set_start_method(StartMethod::kSpawn).ok());
  absl::Status started = p.Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(client.Recv<std::string>().value(), "over tcp");
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

int Unused() { return 0; }
MP_REGISTER_TARGET(Unused);

// The parent keeps its copy of the child's end of the bootstrap channel
// until the child says it has its own, so a child that dies first ends no
// stream: Start() watches the child's process too and fails at once, not
// after kSpawnAnswerTimeout (60 s). spawn_without_init's main() never calls
// mp::Init, and exits at once when spawned.
TEST(SpawnLaunchTest, AChildThatDiesBeforeAnsweringFailsStartPromptly) {
  SetExecutable("process/spawn_without_init");
  Process p(Unused);
  ASSERT_TRUE(p.set_start_method(StartMethod::kSpawn).ok());
  const absl::Time start = absl::Now();
  absl::Status started = p.Start();
  const absl::Duration took = absl::Now() - start;
  SetExecutable("");
  EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition) << started;
  EXPECT_THAT(started.message(), HasSubstr("exited with code"));
  EXPECT_LT(took, absl::Seconds(30)) << started;
}

}  // namespace
}  // namespace mp
