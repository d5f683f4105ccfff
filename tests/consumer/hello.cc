// A consumer's program: a child process answers over a Pipe. It also has
// its own platform/, ipc/ and process/ headers, with the same paths as ours.
#include <iostream>
#include <string>
#include <utility>

#include "ipc/connection.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/multiprocessing.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/process/process.h"
#include "platform/error.h"
#include "process/process.h"

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  std::cout << consumer::platform_error() << ", " << consumer::ipc_connection()
            << ", " << consumer::process_process() << " and mp::IsTimeout: "
            << mp::IsTimeout(mp::TimeoutError("x")) << std::endl;
  auto [parent_end, child_end] = mp::Pipe().value();
  mp::Process child(
      [](mp::Connection& conn) {
        std::string question = conn.Recv<std::string>().value();
        return conn.Send("hello, " + question).ok() ? 0 : 1;
      },
      std::move(child_end));
  if (!child.Start().ok()) return 1;
  if (!parent_end.Send(std::string("consumer")).ok()) return 1;
  std::cout << parent_end.Recv<std::string>().value() << std::endl;
  if (!child.Join().ok()) return 1;
  std::cout << "child exit code " << *child.exitcode() << std::endl;
  return *child.exitcode();
}
