#include "multiprocessing/process/logger.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "multiprocessing/process/current_process.h"

namespace mp {
namespace {

std::atomic<int> current_level{0};
std::atomic<bool> to_stderr{false};

}  // namespace

std::string LogLevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kNotSet:
      return "NOTSET";
    case LogLevel::kSubDebug:
      return "SUBDEBUG";
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kSubWarning:
      return "SUBWARNING";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kCritical:
      return "CRITICAL";
  }
  return absl::StrCat("Level ", static_cast<int>(l));
}

void Logger::set_level(LogLevel l) {
  current_level.store(static_cast<int>(l), std::memory_order_relaxed);
}

LogLevel Logger::level() const {
  return static_cast<LogLevel>(current_level.load(std::memory_order_relaxed));
}

bool Logger::logs_to_stderr() const {
  return to_stderr.load(std::memory_order_relaxed);
}

bool Logger::IsEnabledFor(LogLevel l) const {
  if (!logs_to_stderr()) return false;
  int effective = current_level.load(std::memory_order_relaxed);
  if (effective == 0) effective = static_cast<int>(LogLevel::kWarning);
  return static_cast<int>(l) >= effective;
}

void Logger::Log(LogLevel l, absl::string_view message) {
  if (!IsEnabledFor(l)) return;
  const std::string line =
      absl::StrCat("[", LogLevelName(l), "/", CurrentProcess().name(), " ",
                   CurrentProcess().pid(), "] ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

Logger& GetLogger() {
  static Logger logger;
  return logger;
}

Logger& LogToStderr(std::optional<LogLevel> l) {
  to_stderr.store(true, std::memory_order_relaxed);
  if (l) GetLogger().set_level(*l);
  return GetLogger();
}

}  // namespace mp
