// The first seed: a producer and a consumer joined by a Pipe.
//
// The parent creates a Pipe and starts a consumer process that gets both
// ends. Each side closes the end it does not use: the consumer its sending
// end, the parent its receiving end. The parent sends a sequence of items and
// closes its sending end; with no sender left anywhere, the consumer's
// receive reports end of stream (Python's EOFError) once every item is read,
// and the consumer exits. Forget one of those closes and the consumer waits
// forever: that is what this example shows.
//
// It runs with the platform's default start method (fork on Linux, spawn on
// Windows), so the target is registered and main() calls mp::Init first, as
// pipe_adder_server.cc explains.
//
// Python original:
//   def consumer(output_p, input_p):
//       input_p.close()
//       while True:
//           try: item = output_p.recv()
//           except EOFError: break
//           print(item)
//       print("Consumer done")
#include <cstdlib>
#include <functional>
#include <iostream>

#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/process/process.h"

namespace {

void Check(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << what << ": " << s << std::endl;
    std::exit(1);
  }
}

int Consumer(mp::Connection& output_p, mp::Connection& input_p) {
  Check(input_p.Close(), "consumer: close the sending end");
  for (;;) {
    absl::StatusOr<int> item = output_p.Recv<int>();
    if (mp::IsEof(item.status())) break;
    Check(item.status(), "consumer: recv");
    std::cout << "consumed " << *item << std::endl;
  }
  std::cout << "Consumer done" << std::endl;
  return 0;
}

}  // namespace

MP_REGISTER_TARGET(Consumer);

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  auto [output_p, input_p] = mp::Pipe().value();
  mp::Process consumer(Consumer, std::ref(output_p), std::ref(input_p));
  Check(consumer.Start(), "start consumer");
  Check(output_p.Close(), "producer: close the receiving end");

  for (int item : {1, 2, 3, 4}) {
    Check(input_p.Send(item), "producer: send");
    std::cout << "produced " << item << std::endl;
  }
  Check(input_p.Close(), "producer: close");  // the consumer now sees EOF

  Check(consumer.Join(), "join consumer");
  std::cout << "Main process done (consumer exit code " << *consumer.exitcode()
            << ")" << std::endl;
  return *consumer.exitcode();
}
