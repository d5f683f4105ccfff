// What Python's Process does in a child at any depth, under every start
// method: names (Process-N:M), ident and parent_process() three levels
// deep, subclasses with Run(), and the logger a grandchild inherits.
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One line about the process that runs it:
// "name|identity|pid|ident|parent name|parent pid".
std::string Describe() {
  std::optional<ParentProcessInfo> parent = ParentProcess();
  return absl::StrCat(CurrentProcess().name(), "|",
                      absl::StrJoin(CurrentProcess().identity(), ","), "|",
                      CurrentProcess().pid(), "|", CurrentProcess().ident(),
                      "|", parent ? parent->name : "-", "|",
                      parent ? parent->pid : 0);
}

// Sends Describe(), then (below `depth` 3) starts the next level with the
// same start method, after making one Process it never starts (which takes
// a number, as in Python). Logs at kInfo and kDebug on the way.
int Level(Connection& out, int method, int depth) {
  GetLogger().Info(absl::StrCat("level ", depth, " here"));
  GetLogger().Debug(absl::StrCat("level ", depth, " debug"));
  if (!out.Send(Describe()).ok()) return 10;
  if (depth == 3) return 0;
  Process unused(Level, std::ref(out), method, depth + 1);
  Process next(Level, std::ref(out), method, depth + 1);
  if (!next.set_start_method(static_cast<StartMethod>(method)).ok()) return 11;
  if (!next.Start().ok()) return 12;
  if (!next.Join().ok()) return 13;
  return *next.exitcode();
}
MP_REGISTER_TARGET(Level);

using ProcessLifeTest = test_util::EveryStartMethod;

struct Described {
  std::string name, identity;
  std::int64_t pid = 0, ident = 0;
  std::string parent_name;
  std::int64_t parent_pid = 0;
};

Described Parse(const std::string& line) {
  std::vector<std::string> f = absl::StrSplit(line, '|');
  EXPECT_EQ(f.size(), 6u) << line;
  f.resize(6);
  Described d;
  d.name = f[0];
  d.identity = f[1];
  EXPECT_TRUE(absl::SimpleAtoi(f[2], &d.pid));
  EXPECT_TRUE(absl::SimpleAtoi(f[3], &d.ident));
  d.parent_name = f[4];
  EXPECT_TRUE(absl::SimpleAtoi(f[5], &d.parent_pid));
  return d;
}

// Starts Level 1 and collects the three levels' descriptions.
std::vector<Described> ThreeLevels(Process& top, Connection& receiver) {
  std::vector<Described> levels;
  EXPECT_TRUE(top.Start().ok());
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> line = receiver.Recv<std::string>();
    EXPECT_TRUE(line.ok()) << line.status();
    if (!line.ok()) break;
    levels.push_back(Parse(*line));
  }
  EXPECT_TRUE(top.Join().ok());
  EXPECT_EQ(top.exitcode(), 0);
  return levels;
}

TEST_P(ProcessLifeTest, NamesIdentsAndParentsThreeLevelsDeep) {
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Process top = Make(Level, std::ref(sender), static_cast<int>(GetParam()), 1);
  const std::string n = top.name().substr(std::string("Process-").size());
  std::vector<Described> levels = ThreeLevels(top, receiver);
  ASSERT_EQ(levels.size(), 3u);
  // Each level made an unused Process first, so its started child is its
  // second: Process-N, Process-N:2, Process-N:2:2.
  EXPECT_EQ(levels[0].name, top.name());
  EXPECT_EQ(levels[1].name, absl::StrCat("Process-", n, ":2"));
  EXPECT_EQ(levels[2].name, absl::StrCat("Process-", n, ":2:2"));
  EXPECT_EQ(levels[0].identity, n);
  EXPECT_EQ(levels[1].identity, absl::StrCat(n, ",2"));
  EXPECT_EQ(levels[2].identity, absl::StrCat(n, ",2,2"));
  EXPECT_EQ(levels[0].pid, *top.pid());
  EXPECT_EQ(levels[0].parent_name, "MainProcess");
  EXPECT_EQ(levels[0].parent_pid, CurrentProcess().pid());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(levels[i].ident, levels[i].pid);
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(levels[i].parent_name, levels[i - 1].name);
    EXPECT_EQ(levels[i].parent_pid, levels[i - 1].pid);
    EXPECT_NE(levels[i].pid, levels[i - 1].pid);
  }
  // The main process's counter went on from where it was.
  Process after = Make(Level, std::ref(sender), 0, 3);
  EXPECT_EQ(after.name(), absl::StrCat("Process-", std::stoi(n) + 1));
}

TEST_P(ProcessLifeTest, GrandchildLogsWithItsNameAndTheInheritedLevel) {
  LogToStderr(LogLevel::kInfo);
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Process top = Make(Level, std::ref(sender), static_cast<int>(GetParam()), 1);
  ::testing::internal::CaptureStderr();
  std::vector<Described> levels = ThreeLevels(top, receiver);
  const std::string err = ::testing::internal::GetCapturedStderr();
  GetLogger().set_level(LogLevel::kNotSet);  // kWarning: quiet again
  ASSERT_EQ(levels.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const std::string prefix =
        absl::StrCat("[INFO/", levels[i].name, " ", levels[i].pid, "] ");
    EXPECT_THAT(err, HasSubstr(absl::StrCat(prefix, "level ", i + 1, " here")));
    EXPECT_THAT(err, HasSubstr(absl::StrCat(prefix,
                                            "child process calling "
                                            "self.run()")));
    EXPECT_THAT(err, HasSubstr(absl::StrCat(prefix,
                                            "process exiting with exitcode "
                                            "0")));
  }
  EXPECT_THAT(err, Not(HasSubstr("debug")));  // below the inherited level
}

// A subclass whose Run() uses its members, a Connection among them.
class Greeter : public Process {
 public:
  Greeter(Connection out, std::string greeting, int times)
      : out_(std::move(out)), greeting_(std::move(greeting)), times_(times) {}

  absl::StatusOr<int> Run() override {
    for (int i = 0; i < times_; ++i) {
      if (absl::Status s =
              out_.Send(absl::StrCat(greeting_, " ", i, " from ", name(), "/",
                                     CurrentProcess().name(), " ", daemon()));
          !s.ok()) {
        return s;
      }
    }
    return 40 + times_;
  }

  auto ConstructorArguments() const {
    return std::tie(out_, greeting_, times_);
  }

 private:
  Connection out_;
  std::string greeting_;
  int times_;
};
MP_REGISTER_PROCESS(Greeter);

TEST_P(ProcessLifeTest, SubclassRunsItsRunWithItsMembers) {
  auto [receiver, sender] = Pipe(/*duplex=*/false).value();
  Greeter g(std::move(sender), "hello", 2);
  ASSERT_TRUE(g.set_start_method(GetParam()).ok());
  ASSERT_TRUE(g.set_name("greeter").ok());
  ASSERT_TRUE(g.set_daemon(true).ok());
  ASSERT_TRUE(g.Start().ok());
  // The object in the child has the name and flag set here, forked or
  // rebuilt.
  EXPECT_EQ(receiver.Recv<std::string>().value(),
            "hello 0 from greeter/greeter 1");
  EXPECT_EQ(receiver.Recv<std::string>().value(),
            "hello 1 from greeter/greeter 1");
  ASSERT_TRUE(g.Join().ok());
  EXPECT_EQ(g.exitcode(), 42);
}

// Not registered: only fork can run it.
class Unregistered : public Process {
 public:
  explicit Unregistered(int code) : code_(code) {}
  absl::StatusOr<int> Run() override { return code_; }

 private:
  int code_;
};

TEST_P(ProcessLifeTest, UnregisteredSubclassForksButDoesNotSpawn) {
  Unregistered u(9);
  ASSERT_TRUE(u.set_start_method(GetParam()).ok());
  absl::Status s = u.Start();
  if (GetParam() != StartMethod::kFork) {  // spawn, forkserver: registered
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr("MP_REGISTER_PROCESS"));
    return;
  }
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(u.Join().ok());
  EXPECT_EQ(u.exitcode(), 9);
}

TEST_P(ProcessLifeTest, ProcessWithoutTargetExitsZero) {
  Process none;
  ASSERT_TRUE(none.set_start_method(GetParam()).ok());
  ASSERT_TRUE(none.Start().ok());
  ASSERT_TRUE(none.Join().ok());
  EXPECT_EQ(none.exitcode(), 0);
}

int Triple(int x) { return 3 * x; }
MP_REGISTER_TARGET(Triple);

TEST(ProcessRunTest, RunCallsTheTargetHereUntilStarted) {
  Process p(Triple, 4);
  EXPECT_EQ(p.Run().value(), 12);  // Python's p.run(): in this process
  EXPECT_EQ(p.Run().value(), 12);
  ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(p.Run().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 12);
  Greeter g(Pipe().value().first, "hi", 0);
  EXPECT_EQ(g.Run().value(), 40);  // an override runs here too
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(ProcessLifeTest);

}  // namespace
}  // namespace mp
