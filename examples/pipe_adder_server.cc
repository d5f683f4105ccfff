// The second seed: a server process on a duplex Pipe that adds what it is
// sent, in the request/response style of a remote procedure call.
//
// Requests are (3, 4) or ("hello", "world"); the server answers a + b, i.e.
// 7 and "helloworld". The client closing its end is the server's signal to
// stop: its receive reports end of stream, it prints "Server done" and exits.
//
// It runs with the platform's default start method: fork on Linux, spawn on
// Windows. For spawn the target is registered (MP_REGISTER_TARGET) and main()
// calls mp::Init first, where a spawned child runs its target: Python's
// `if __name__ == "__main__":`.
//
// Python original:
//   def add(pipe):
//       server_p, client_p = pipe
//       client_p.close()
//       while True:
//           try: x, y = server_p.recv()
//           except EOFError: break
//           server_p.send(x + y)
//       print("Server done")
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <variant>

#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/process/process.h"

namespace {

// Python's tuples of either two ints or two strings, and their sums.
using Request = std::variant<std::pair<int64_t, int64_t>,
                             std::pair<std::string, std::string>>;
using Reply = std::variant<int64_t, std::string>;

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << what << ": " << s << std::endl;
    std::exit(1);
  }
}

int Adder(std::pair<mp::Connection, mp::Connection>& pipe) {
  auto& [server_p, client_p] = pipe;
  Check(client_p.Close(), "server: close the client's end");
  for (;;) {
    absl::StatusOr<Request> request = server_p.Recv<Request>();
    if (mp::IsEof(request.status())) break;
    Check(request.status(), "server: recv");
    Reply sum = std::visit(
        [](const auto& xy) -> Reply { return xy.first + xy.second; }, *request);
    Check(server_p.Send(sum), "server: send");
  }
  std::cout << "Server done" << std::endl;
  return 0;
}

void Print(const Reply& r) {
  std::visit([](const auto& v) { std::cout << v << std::endl; }, r);
}

}  // namespace

MP_REGISTER_TARGET(Adder);

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  std::pair<mp::Connection, mp::Connection> pipe = mp::Pipe().value();
  auto& [server_p, client_p] = pipe;
  mp::Process adder(Adder, std::ref(pipe));
  Check(adder.Start(), "start server");
  Check(server_p.Close(), "client: close the server's end");

  Check(client_p.Send(Request(std::make_pair<int64_t, int64_t>(3, 4))), "send");
  Print(client_p.Recv<Reply>().value());
  Check(client_p.Send(Request(
            std::make_pair(std::string("hello"), std::string("world")))),
        "send");
  Print(client_p.Recv<Reply>().value());
  Check(client_p.Close(), "client: close");  // the server sees EOF and stops

  Check(adder.Join(), "join server");
  return *adder.exitcode();
}
