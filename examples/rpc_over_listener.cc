// The adder server of pipe_adder_server, but across processes that did not
// start each other: a Listener with an authkey, and any client that knows
// the key -- rpc_client.py, the seed's own client code run by python3 with
// CPython's multiprocessing.connection.Client, for example:
//
//   conn.send((3, 4)); print(conn.recv())                  # 7
//   conn.send(('hello', 'world')); print(conn.recv())      # helloworld
//
//   rpc_over_listener ADDRESS AUTHKEY [CLIENTS]
//
// ADDRESS is a Unix socket path, "@name" or "host:port" (port 0 picks one;
// the server prints the address it got). Requests and answers are pickled
// by mp's codec exactly as Python's send()/recv() pickle them. A request of
// another shape gets the answer "error: ..." (a str). A client that closes
// its connection is done; the server stops after CLIENTS clients (default:
// 1) and prints "Server done". A client with the wrong key is turned away
// and does not count.
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>
#include <variant>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/ipc/listener.h"

namespace {

// Python's (int, int) or (str, str), and their sums.
using Request = std::variant<std::pair<int64_t, int64_t>,
                             std::pair<std::string, std::string>>;
using Reply = std::variant<int64_t, std::string>;

// Answers one client until it closes its connection.
void Serve(mp::Connection& conn) {
  for (;;) {
    absl::StatusOr<Request> request = conn.Recv<Request>();
    Reply reply;
    if (request.ok()) {
      reply = std::visit(
          [](const auto& xy) -> Reply { return xy.first + xy.second; },
          *request);
    } else if (request.status().code() == absl::StatusCode::kInvalidArgument) {
      reply = absl::StrCat("error: expected (int, int) or (str, str): ",
                           request.status().message());
    } else {
      return;  // end of stream (or a broken connection): this client is done
    }
    if (!conn.Send(reply).ok()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " ADDRESS AUTHKEY [CLIENTS]\n";
    return 2;
  }
  int clients = 1;
  if (argc > 3 && !absl::SimpleAtoi(argv[3], &clients)) return 2;
  absl::StatusOr<mp::Listener> listener =
      mp::Listener::Create(argv[1], /*backlog=*/4, std::string(argv[2]));
  if (!listener.ok()) {
    std::cerr << "listen: " << listener.status() << std::endl;
    return 1;
  }
  std::cout << "Listening on " << listener->address() << std::endl;
  for (int served = 0; served < clients;) {
    absl::StatusOr<mp::Connection> conn = listener->Accept();
    if (!conn.ok()) {  // e.g. a wrong key: turn it away, go on
      std::cout << "Refused a client: " << conn.status().message() << std::endl;
      continue;
    }
    ++served;
    Serve(*conn);
  }
  std::cout << "Server done" << std::endl;
  return 0;
}
