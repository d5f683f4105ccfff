// What only the spawn start method does: targets found by registration,
// arguments that travel encoded, handles passed by number, mp::Init.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec_protobuf.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/testdata/spawn_test.pb.h"

namespace mp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Mixed = std::tuple<int64_t, double, std::string, std::vector<int>,
                         std::map<std::string, int>, testdata::Job>;

// Sends its arguments back over `out`, and a greeting over `side`.
int Echo(int64_t n, double x, std::string s, std::vector<int> v,
         std::map<std::string, int> m, testdata::Job job, Connection& out,
         Connection& side) {
  if (!side.Send(std::string("hello")).ok()) return 2;
  return out.Send(Mixed(n, x, s, v, m, job)).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(Echo);

int TakesByte(uint8_t b) { return b; }
MP_REGISTER_TARGET(TakesByte);

int NotRegistered() { return 0; }

Process Spawned(Process p) {
  EXPECT_TRUE(p.set_start_method(StartMethod::kSpawn).ok());
  return p;
}

TEST(SpawnTest, MixedArgumentsRoundTrip) {
  auto [mine, theirs] = Pipe().value();
  auto [side_mine, side_theirs] = Pipe(/*duplex=*/false).value();
  testdata::Job job;
  job.set_name("job");
  job.add_values(1);
  job.add_values(-2);
  const Mixed sent(-(int64_t{1} << 40), 2.5, std::string("text\0with nul", 13),
                   std::vector<int>{1, 2, 3},
                   std::map<std::string, int>{{"a", 1}, {"b", 2}}, job);
  Process p = Spawned(Process(Echo, std::get<0>(sent), std::get<1>(sent),
                              std::get<2>(sent), std::get<3>(sent),
                              std::get<4>(sent), std::get<5>(sent),
                              std::move(theirs), std::ref(side_theirs)));
  absl::Status started = p.Start();
  ASSERT_TRUE(started.ok()) << started;
  // A std::ref'd argument stays open in the parent; close our copy.
  ASSERT_TRUE(side_theirs.Close().ok());
  EXPECT_EQ(side_mine.Recv<std::string>().value_or("?"), "hello");
  absl::StatusOr<Mixed> got = mine.Recv<Mixed>();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(std::get<0>(*got), std::get<0>(sent));
  EXPECT_EQ(std::get<1>(*got), std::get<1>(sent));
  EXPECT_EQ(std::get<2>(*got), std::get<2>(sent));
  EXPECT_EQ(std::get<3>(*got), std::get<3>(sent));
  EXPECT_EQ(std::get<4>(*got), std::get<4>(sent));
  EXPECT_EQ(std::get<5>(*got).SerializeAsString(), job.SerializeAsString());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
  // Both of the child's ends are closed everywhere now.
  EXPECT_TRUE(IsEof(mine.RecvBytes().status()));
  EXPECT_TRUE(IsEof(side_mine.RecvBytes().status()));
}

TEST(SpawnTest, UnregisteredTargetsFailClearly) {
  std::vector<Process> unregistered;
  unregistered.push_back(Spawned(Process(NotRegistered)));
  unregistered.push_back(Spawned(Process([] { return 0; })));
  for (Process& p : unregistered) {
    absl::Status s = p.Start();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr("MP_REGISTER_TARGET"));
    EXPECT_EQ(p.pid(), std::nullopt);
  }
  EXPECT_TRUE(ActiveChildren().empty());
}

TEST(SpawnTest, AnArgumentWithoutCodecFailsClearly) {
  struct Byte {
    operator uint8_t() const { return 1; }  // callable, but not encodable
  };
  Process p = Spawned(Process(TakesByte, Byte{}));
  absl::Status s = p.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("argument 1 ("));
  EXPECT_THAT(s.message(), HasSubstr("Byte"));
  EXPECT_THAT(s.message(), HasSubstr("mp::Codec"));
}

// A function whose parameter has no Codec cannot be registered (that does
// not compile), so the error names the parameter, not the registration.
struct Config {
  int verbosity = 0;
};
int TakesConfig(int n, Config config) { return n + config.verbosity; }

TEST(SpawnTest, AnUnregisteredTargetWithoutCodecNamesTheArgument) {
  Process p = Spawned(Process(TakesConfig, 1, Config{}));
  absl::Status s = p.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("argument 2 ("));
  EXPECT_THAT(s.message(), HasSubstr("Config"));
  EXPECT_THAT(s.message(), HasSubstr("mp::Codec"));
  EXPECT_THAT(s.message(), Not(HasSubstr("MP_REGISTER_TARGET")));
  EXPECT_EQ(p.pid(), std::nullopt);
}

TEST(SpawnTest, ArgumentsThatDoNotDecodeInTheChildFailInTheParent) {
  Process p =
      Spawned(Process(TakesByte, 300));  // an int; the child wants 0..255
  absl::Status s = p.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("arguments of target TakesByte"));
  EXPECT_TRUE(ActiveChildren().empty());  // the child was reaped
  Process ok = Spawned(Process(TakesByte, 200));
  ASSERT_TRUE(ok.Start().ok());
  ASSERT_TRUE(ok.Join().ok());
  EXPECT_EQ(ok.exitcode(), 200);
}

TEST(SpawnTest, AMainWithoutInitIsReportedByStart) {
  absl::StatusOr<platform::ChildProcess> program =
      platform::LaunchProgram({"process/spawn_without_init"}, {});
  ASSERT_TRUE(program.ok()) << program.status();
  absl::StatusOr<std::optional<int>> code =
      platform::WaitForExit(*program, absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << "see its stderr above";
}

// Issue 21: a spawn bootstrap cannot be forged. Each of these runs the
// program's main() (exit 7), never its registered target (42), never exit 1.
int RunForged(std::vector<std::string> args,
              std::vector<platform::NativeHandle> inherit = {},
              std::vector<std::string> environment = {}) {
  args.insert(args.begin(), "process/forged_bootstrap");
  platform::LaunchOptions options;
  options.environment = std::move(environment);
  absl::StatusOr<platform::ChildProcess> program =
      platform::LaunchProgram(args, inherit, options);
  if (!program.ok()) {
    ADD_FAILURE() << program.status();
    return -1;
  }
  return platform::WaitForExit(*program, absl::Seconds(60))
      .value()
      .value_or(-1000);
}

TEST(SpawnTest, AForgedBootstrapRunsMain) {
  const std::string ours = absl::StrCat(platform::CurrentProcessId());
  auto variable = [](auto... parts) {
    return absl::StrCat("MP_SPAWN_BOOTSTRAP=", parts...);
  };
  // The switches of earlier versions on the command line mean nothing.
  EXPECT_EQ(RunForged({"--mp-spawn=Pwned", "--mp-bootstrap=0"}), 7);
  // Malformed variables.
  EXPECT_EQ(RunForged({}, {}, {variable("")}), 7);
  EXPECT_EQ(RunForged({}, {}, {variable("x:", ours)}), 7);
  EXPECT_EQ(RunForged({}, {}, {variable("-1:", ours)}), 7);
  EXPECT_EQ(RunForged({}, {}, {variable("0:", ours, ":0")}), 7);
  // Well formed, but the descriptor is stdin, not a channel.
  EXPECT_EQ(RunForged({}, {}, {variable("0:", ours)}), 7);
  platform::ChannelPair channel = platform::CreateDuplexChannel().value();
  const platform::NativeHandle theirs = channel.second.get();
  // A real channel, but the parent is not the one named.
  EXPECT_EQ(RunForged({}, {theirs}, {variable(theirs, ":1")}), 7);
  // The control: everything right, so the child takes it for a spawn and
  // reads the bootstrap message, which never comes (exit 1, not main()).
  ASSERT_TRUE(channel.first.Close().ok());
  EXPECT_EQ(RunForged({}, {theirs}, {variable(theirs, ":", ours)}), 1);
}

// A spawned child gets the parent's arguments after argv[0] (spawn_test's
// BUILD rule passes some), and none of the library's own.
std::vector<std::string> Arguments() {
  const std::vector<std::string>& all = platform::ProgramArguments();
  return std::vector<std::string>(all.begin() + (all.empty() ? 0 : 1),
                                  all.end());
}
int SendArguments(Connection& out) {
  return out.Send(Arguments()).ok() ? 0 : 1;
}
MP_REGISTER_TARGET(SendArguments);

TEST(SpawnTest, TheChildSeesTheParentsArguments) {
  const std::vector<std::string> mine = Arguments();
  ASSERT_GE(mine.size(), 2u) << "spawn_test's BUILD rule passes arguments";
  auto [ours, theirs] = Pipe().value();
  Process p = Spawned(Process(SendArguments, std::move(theirs)));
  ASSERT_TRUE(p.Start().ok());
  absl::StatusOr<std::vector<std::string>> got =
      ours.Recv<std::vector<std::string>>();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, mine);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

// The bootstrap variable is gone before the target runs.
int BootstrapVariableIsGone() {
  return std::getenv("MP_SPAWN_BOOTSTRAP") == nullptr ? 0 : 1;
}
MP_REGISTER_TARGET(BootstrapVariableIsGone);

TEST(SpawnTest, TheTargetDoesNotSeeTheBootstrapVariable) {
  Process p = Spawned(Process(BootstrapVariableIsGone));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

TEST(SpawnTest, WorksInAParentThatRunsThreads) {
  // Threads that hold a lock and allocate all the time: a fork could copy
  // the lock held; spawn execs, so it cannot.
  std::mutex mu;
  std::vector<std::string> garbage;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        std::lock_guard<std::mutex> lock(mu);
        garbage.assign(100, std::string(1000, 'x'));
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    Process p = Spawned(Process(TakesByte, i));
    absl::Status s = p.Start();
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), i);
  }
  stop = true;
  for (std::thread& t : threads) t.join();
}

TEST(StartMethodsTest, DefaultsAndSetting) {
  // Python's: fork then spawn where fork exists (fork the default), else
  // spawn alone; then forkserver where it exists (Linux).
  std::vector<StartMethod> all =
      platform::CanFork()
          ? std::vector<StartMethod>{StartMethod::kFork, StartMethod::kSpawn}
          : std::vector<StartMethod>{StartMethod::kSpawn};
  if (platform::CanForkserver()) all.push_back(StartMethod::kForkserver);
  EXPECT_EQ(GetAllStartMethods(), all);
  EXPECT_EQ(GetStartMethod(), all.front());  // and now it is fixed
  absl::Status again = SetStartMethod(StartMethod::kSpawn);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("context has already been set"));
  ASSERT_TRUE(SetStartMethod(StartMethod::kSpawn, /*force=*/true).ok());
  EXPECT_EQ(GetStartMethod(), StartMethod::kSpawn);
  EXPECT_EQ(Process(TakesByte, 1).start_method(), StartMethod::kSpawn);
  EXPECT_EQ(GetContext().value().start_method(), StartMethod::kSpawn);
  EXPECT_EQ(GetContext(StartMethod::kSpawn).value().start_method(),
            StartMethod::kSpawn);
  absl::Status fork = SetStartMethod(StartMethod::kFork, /*force=*/true);
  if (platform::CanFork()) {
    EXPECT_TRUE(fork.ok()) << fork;
    EXPECT_EQ(GetContext().value().start_method(), StartMethod::kFork);
  } else {
    EXPECT_EQ(fork.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(fork.message(), HasSubstr("not available"));
    EXPECT_FALSE(GetContext(StartMethod::kFork).ok());
    EXPECT_EQ(GetStartMethod(), StartMethod::kSpawn);
  }
  absl::Status forkserver =
      SetStartMethod(StartMethod::kForkserver, /*force=*/true);
  if (platform::CanForkserver()) {
    EXPECT_TRUE(forkserver.ok()) << forkserver;
    EXPECT_EQ(GetContext().value().start_method(), StartMethod::kForkserver);
  } else {
    EXPECT_EQ(forkserver.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_FALSE(GetContext(StartMethod::kForkserver).ok());
    EXPECT_EQ(SetForkserverPreload({}).code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

TEST(ModuleFunctionsTest, MainProcess) {
  EXPECT_EQ(CurrentProcess().name(), "MainProcess");
  EXPECT_FALSE(CurrentProcess().daemon());
  EXPECT_EQ(CurrentProcess().authkey().size(), 32u);
  EXPECT_EQ(CurrentProcess().authkey(), CurrentProcess().authkey());
  EXPECT_FALSE(ParentProcess().has_value());
  ASSERT_TRUE(CpuCount().has_value());
  EXPECT_GE(*CpuCount(), 1);
}

}  // namespace
}  // namespace mp
