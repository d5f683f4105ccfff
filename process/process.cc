#include "process/process.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <iostream>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "platform/error.h"
#include "process/registry.h"

namespace mp {
namespace {

using process_internal::ChildRegistry;

// Set in the child of a daemonic Process, which may not start children.
bool current_process_is_daemon = false;

void FlushStdio() {
  std::cout.flush();
  std::cerr.flush();
  std::clog.flush();
  std::fflush(nullptr);
}

absl::Status ClosedError() {
  return absl::FailedPreconditionError("process object is closed");
}

// The exit code for what the target returned; an error is reported on
// stderr, as Python prints the traceback of an uncaught exception.
int ExitCode(const absl::StatusOr<int>& result, const std::string& name) {
  if (result.ok()) return *result;
  std::fprintf(stderr, "Process %s: %s\n", name.c_str(),
               result.status().ToString().c_str());
  return 1;
}

}  // namespace

std::string Process::NextName() {
  static std::atomic<int> counter{0};
  return absl::StrCat("Process-", ++counter);
}

Process::Process(Process&& other) noexcept
    : start_method_(other.start_method_),
      target_(std::move(other.target_)),
      name_(std::move(other.name_)),
      daemon_(other.daemon_),
      closed_(std::exchange(other.closed_, true)),
      child_(std::move(other.child_)),
      exitcode_(other.exitcode_) {
  other.child_.reset();
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Abandon();
    start_method_ = other.start_method_;
    target_ = std::move(other.target_);
    name_ = std::move(other.name_);
    daemon_ = other.daemon_;
    closed_ = std::exchange(other.closed_, true);
    child_ = std::move(other.child_);
    other.child_.reset();
    exitcode_ = other.exitcode_;
  }
  return *this;
}

Process::~Process() { Abandon(); }

void Process::Abandon() {
  if (child_.has_value()) {
    Poll();
    if (!exitcode_.has_value()) {
      ChildRegistry::Get().Adopt(std::move(*child_));
    }
    child_.reset();
  }
  target_.reset();
  closed_ = true;
}

absl::Status Process::Start() {
  if (closed_) return ClosedError();
  if (child_.has_value()) {
    return absl::FailedPreconditionError("cannot start a process twice");
  }
  if (current_process_is_daemon) {
    return absl::FailedPreconditionError(
        "daemonic processes are not allowed to have children");
  }
  ChildRegistry::Get().ReapFinished();
  HandleList keep;
  target_->AppendHandles(&keep);
  FlushStdio();  // or the child would write the parent's pending output too
  absl::StatusOr<platform::ChildProcess> child = Launch(keep);
  if (!child.ok()) return child.status();
  ChildRegistry::Get().Add(child->pid);
  child_ = std::move(*child);
  target_.reset();  // the arguments moved into the Process belong to the child
  return absl::OkStatus();
}

absl::StatusOr<platform::ChildProcess> Process::Launch(const HandleList& keep) {
  switch (start_method_) {
    case StartMethod::kFork:
      if (!platform::CanFork()) {
        return absl::UnimplementedError(
            "the fork start method is not available on this platform");
      }
      return platform::ForkAndRun(keep, [this] { return RunInChild(); });
  }
  return absl::InternalError("unknown start method");
}

int Process::RunInChild() {
  current_process_is_daemon = daemon_;
  int code = 1;
#ifdef ABSL_HAVE_EXCEPTIONS
  try {
    code = ExitCode(target_->Run(), name_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Process %s: %s\n", name_.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "Process %s: unknown exception\n", name_.c_str());
  }
#else
  code = ExitCode(target_->Run(), name_);
#endif
  FlushStdio();  // platform::ExitNow() does not
  return code;
}

absl::Status Process::CheckStarted(const char* operation) const {
  if (closed_) return ClosedError();
  if (!child_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("can only ", operation, " a started process"));
  }
  return absl::OkStatus();
}

absl::Status Process::Join(std::optional<absl::Duration> timeout) {
  if (absl::Status s = CheckStarted("join"); !s.ok()) return s;
  if (exitcode_.has_value()) return absl::OkStatus();
  absl::StatusOr<std::optional<int>> code =
      platform::WaitForExit(*child_, timeout);
  if (!code.ok()) return code.status();
  if (!code->has_value()) {
    return TimeoutError(absl::StrCat("join: ", name_, " still running after ",
                                     absl::FormatDuration(*timeout)));
  }
  Reaped(**code);
  return absl::OkStatus();
}

void Process::Poll() {
  if (exitcode_.has_value()) return;
  absl::StatusOr<std::optional<int>> code =
      platform::WaitForExit(*child_, absl::ZeroDuration());
  if (code.ok() && code->has_value()) Reaped(**code);
}

void Process::Reaped(int exitcode) {
  exitcode_ = exitcode;
  ChildRegistry::Get().Remove(child_->pid);
}

bool Process::IsAlive() {
  if (closed_ || !child_.has_value()) return false;
  Poll();
  return !exitcode_.has_value();
}

std::optional<std::int64_t> Process::pid() const {
  if (closed_ || !child_.has_value()) return std::nullopt;
  return child_->pid;
}

std::optional<int> Process::exitcode() {
  if (closed_ || !child_.has_value()) return std::nullopt;
  Poll();
  return exitcode_;
}

absl::Status Process::Signal(bool kill) {
  if (absl::Status s = CheckStarted(kill ? "kill" : "terminate"); !s.ok()) {
    return s;
  }
  if (exitcode_.has_value()) return absl::OkStatus();  // reaped: pid is stale
  return kill ? platform::Kill(*child_) : platform::Terminate(*child_);
}

absl::Status Process::Terminate() { return Signal(/*kill=*/false); }

absl::Status Process::Kill() { return Signal(/*kill=*/true); }

absl::Status Process::Close() {
  if (closed_) return absl::OkStatus();
  if (child_.has_value()) {
    Poll();
    if (!exitcode_.has_value()) {
      return absl::FailedPreconditionError(
          "cannot close a process while it is still running; join or "
          "terminate it first");
    }
  }
  child_.reset();
  target_.reset();
  closed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<platform::NativeHandle> Process::sentinel() const {
  if (absl::Status s = CheckStarted("get the sentinel of"); !s.ok()) return s;
  return child_->sentinel.get();
}

absl::Status Process::set_name(std::string name) {
  if (closed_) return ClosedError();
  name_ = std::move(name);
  return absl::OkStatus();
}

absl::Status Process::set_daemon(bool daemon) {
  if (closed_) return ClosedError();
  if (child_.has_value()) {
    return absl::FailedPreconditionError("process has already started");
  }
  daemon_ = daemon;
  return absl::OkStatus();
}

void Exit(int code) {
  FlushStdio();
  platform::ExitNow(code);
}

}  // namespace mp
