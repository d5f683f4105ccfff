// Python's multiprocessing.get_logger() and log_to_stderr(): one logger per
// process whose lines name the process that wrote them.
//
//   mp::LogToStderr(mp::LogLevel::kInfo);
//   mp::GetLogger().Info("starting");   // [INFO/MainProcess 4242] starting
//
// As in Python, nothing is written until LogToStderr() is called (the logger
// has no handler), and a message below the level is dropped (an unset level
// means kWarning, the root logger's). Children log as their parent does:
// the level and the stderr handler are inherited under every start method
// (spawn passes them in the bootstrap message, as Python does). The library
// itself logs at kInfo in each child: "child process calling self.run()"
// and "process exiting with exitcode N".
//
// Each line goes to stderr in one fwrite and is flushed at once, so lines
// of processes sharing a terminal do not interleave. Thread-safe. In a
// forked child of a multithreaded parent the DANGER note of
// platform/launch.h applies (a line takes stdio's lock and allocates).
//
// Debian 12's Abseil (20220623) has no absl/log, so this is a small sink of
// our own rather than an absl::LogSink.
#ifndef MULTIPROCESSING_PROCESS_LOGGER_H_
#define MULTIPROCESSING_PROCESS_LOGGER_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace mp {

// Python's levels, with multiprocessing.util's SUBDEBUG and SUBWARNING.
enum class LogLevel : int {
  kNotSet = 0,
  kSubDebug = 5,
  kDebug = 10,
  kInfo = 20,
  kSubWarning = 25,
  kWarning = 30,
  kError = 40,
  kCritical = 50,
};

// "DEBUG", "INFO", ... as Python's logging names them ("Level N" otherwise).
std::string LogLevelName(LogLevel level);

class Logger {
 public:
  // logger.setLevel(level) / logger.level.
  void set_level(LogLevel level);
  LogLevel level() const;
  // logger.isEnabledFor(level): a handler is attached and `level` is at or
  // above the effective level.
  bool IsEnabledFor(LogLevel level) const;

  // logger.log(level, msg) and its shorthands. The line is
  // "[LEVEL/<process name> <pid>] <message>".
  void Log(LogLevel level, absl::string_view message);
  void SubDebug(absl::string_view message) {
    Log(LogLevel::kSubDebug, message);
  }
  void Debug(absl::string_view message) { Log(LogLevel::kDebug, message); }
  void Info(absl::string_view message) { Log(LogLevel::kInfo, message); }
  void SubWarning(absl::string_view message) {
    Log(LogLevel::kSubWarning, message);
  }
  void Warning(absl::string_view message) { Log(LogLevel::kWarning, message); }
  void Error(absl::string_view message) { Log(LogLevel::kError, message); }
  void Critical(absl::string_view message) {
    Log(LogLevel::kCritical, message);
  }

  // Whether the stderr handler is attached (LogToStderr()).
  bool logs_to_stderr() const;
};

// get_logger(): this process's logger.
Logger& GetLogger();

// log_to_stderr(level): attaches the stderr handler (once) and, when
// `level` is given, sets the level. Returns the logger.
Logger& LogToStderr(std::optional<LogLevel> level = std::nullopt);

}  // namespace mp

#endif  // MULTIPROCESSING_PROCESS_LOGGER_H_
