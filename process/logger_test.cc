// The logger in one process: nothing before LogToStderr(), the level filter,
// the line format, level names, and whole lines from concurrent threads.
// The logger is per process, so these tests run in the order written (the
// first one checks the state before any handler is attached).
#include "multiprocessing/process/logger.h"

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "multiprocessing/process/current_process.h"

namespace mp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Prefix(absl::string_view level) {
  return absl::StrCat("[", level, "/", CurrentProcess().name(), " ",
                      CurrentProcess().pid(), "] ");
}

TEST(LoggerTest, SilentUntilLogToStderr) {
  Logger& logger = GetLogger();
  EXPECT_FALSE(logger.logs_to_stderr());
  EXPECT_FALSE(logger.IsEnabledFor(LogLevel::kCritical));
  testing::internal::CaptureStderr();
  logger.Critical("nobody hears this");
  EXPECT_THAT(testing::internal::GetCapturedStderr(), IsEmpty());
}

TEST(LoggerTest, UnsetLevelMeansWarning) {
  Logger& logger = LogToStderr();
  EXPECT_TRUE(logger.logs_to_stderr());
  EXPECT_EQ(logger.level(), LogLevel::kNotSet);
  EXPECT_FALSE(logger.IsEnabledFor(LogLevel::kSubWarning));
  EXPECT_TRUE(logger.IsEnabledFor(LogLevel::kWarning));
  testing::internal::CaptureStderr();
  logger.Info("dropped");
  logger.SubWarning("dropped too");
  logger.Warning("kept");
  logger.Error("kept too");
  EXPECT_EQ(
      testing::internal::GetCapturedStderr(),
      absl::StrCat(Prefix("WARNING"), "kept\n", Prefix("ERROR"), "kept too\n"));
}

TEST(LoggerTest, LevelFiltersEveryShorthand) {
  Logger& logger = LogToStderr(LogLevel::kSubDebug);
  EXPECT_EQ(logger.level(), LogLevel::kSubDebug);
  testing::internal::CaptureStderr();
  logger.Log(LogLevel::kNotSet, "below everything");
  logger.Log(static_cast<LogLevel>(4), "just below SUBDEBUG");
  logger.SubDebug("a");
  logger.Debug("b");
  logger.Info("c");
  logger.SubWarning("d");
  logger.Warning("e");
  logger.Error("f");
  logger.Critical("g");
  logger.Log(static_cast<LogLevel>(7), "h");
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            absl::StrCat(Prefix("SUBDEBUG"), "a\n", Prefix("DEBUG"), "b\n",
                         Prefix("INFO"), "c\n", Prefix("SUBWARNING"), "d\n",
                         Prefix("WARNING"), "e\n", Prefix("ERROR"), "f\n",
                         Prefix("CRITICAL"), "g\n", Prefix("Level 7"), "h\n"));

  // A level set on the logger returned by GetLogger() is the same logger's.
  GetLogger().set_level(LogLevel::kError);
  EXPECT_EQ(LogToStderr().level(), LogLevel::kError);
  testing::internal::CaptureStderr();
  logger.Warning("dropped");
  logger.Critical("kept");
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            absl::StrCat(Prefix("CRITICAL"), "kept\n"));
}

TEST(LoggerTest, LevelNamesArePythons) {
  EXPECT_EQ(LogLevelName(LogLevel::kNotSet), "NOTSET");
  EXPECT_EQ(LogLevelName(LogLevel::kSubDebug), "SUBDEBUG");
  EXPECT_EQ(LogLevelName(LogLevel::kDebug), "DEBUG");
  EXPECT_EQ(LogLevelName(LogLevel::kInfo), "INFO");
  EXPECT_EQ(LogLevelName(LogLevel::kSubWarning), "SUBWARNING");
  EXPECT_EQ(LogLevelName(LogLevel::kWarning), "WARNING");
  EXPECT_EQ(LogLevelName(LogLevel::kError), "ERROR");
  EXPECT_EQ(LogLevelName(LogLevel::kCritical), "CRITICAL");
  EXPECT_EQ(LogLevelName(static_cast<LogLevel>(42)), "Level 42");
}

TEST(LoggerTest, LinesFromThreadsStayWhole) {
  Logger& logger = LogToStderr(LogLevel::kInfo);
  constexpr int kThreads = 4;
  constexpr int kLines = 250;
  const std::string filler(200, 'x');
  testing::internal::CaptureStderr();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLines; ++i) {
        logger.Info(absl::StrCat("thread ", t, " line ", i, " ", filler));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string out = testing::internal::GetCapturedStderr();
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  ASSERT_EQ(lines.size(), kThreads * kLines + 1u);
  EXPECT_THAT(lines.back(), IsEmpty());
  lines.pop_back();
  std::vector<int> next(kThreads, 0);  // each thread's lines stay in order
  for (const std::string& line : lines) {
    int t = -1, i = -1;
    char rest[256] = {};
    const std::string prefix = Prefix("INFO");
    ASSERT_EQ(line.substr(0, prefix.size()), prefix) << line;
    ASSERT_EQ(std::sscanf(line.c_str() + prefix.size(),
                          "thread %d line %d %255s", &t, &i, rest),
              3)
        << line;
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    EXPECT_EQ(i, next[t]++) << line;
    EXPECT_EQ(std::string(rest), filler) << line;
  }
  EXPECT_THAT(next, ElementsAre(kLines, kLines, kLines, kLines));
}

}  // namespace
}  // namespace mp
