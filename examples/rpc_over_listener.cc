// The adder server of pipe_adder_server, but across processes that did not
// start each other: a Listener with an authkey, and any client that knows
// the key -- rpc_client.py, a plain python3 script using CPython's own
// multiprocessing.connection.Client, for example.
//
//   rpc_over_listener ADDRESS AUTHKEY [CLIENTS]
//
// ADDRESS is a Unix socket path, "@name" or "host:port" (port 0 picks one;
// the server prints the address it got). Requests are text messages, so any
// language can call: "add 3 4" answers "7", 'add "hello" "world"' answers
// '"helloworld"'. A client that closes its connection is done; the server
// stops after CLIENTS clients (default: 1) and prints "Server done". A
// client with the wrong key is turned away and does not count.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "ipc/listener.h"

namespace {

// "add A B" -> the sum of two integers or the concatenation of two quoted
// strings; anything else -> an "error: ..." reply.
std::string Answer(absl::string_view request) {
  std::vector<std::string> words = absl::StrSplit(request, ' ');
  if (words.size() != 3 || words[0] != "add") {
    return absl::StrCat("error: expected 'add A B', got '", request, "'");
  }
  int64_t a, b;
  if (absl::SimpleAtoi(words[1], &a) && absl::SimpleAtoi(words[2], &b)) {
    return absl::StrCat(a + b);
  }
  absl::string_view x = words[1], y = words[2];
  if (absl::ConsumePrefix(&x, "\"") && absl::ConsumeSuffix(&x, "\"") &&
      absl::ConsumePrefix(&y, "\"") && absl::ConsumeSuffix(&y, "\"")) {
    return absl::StrCat("\"", x, y, "\"");
  }
  return "error: A and B must both be integers or both quoted strings";
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
    for (;;) {
      absl::StatusOr<std::string> request = conn->RecvBytes(/*maxlength=*/4096);
      if (!request.ok()) break;  // end of stream: this client is done
      if (!conn->SendBytes(Answer(*request)).ok()) break;
    }
  }
  std::cout << "Server done" << std::endl;
  return 0;
}
