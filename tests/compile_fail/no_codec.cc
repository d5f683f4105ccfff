// EXPECT: NoCodecFor<Config>
// EXPECT: this type has no mp::Codec
// Sending a type with no mp::Codec: one error, naming the type.
#include "multiprocessing/ipc/connection.h"

struct Config {
  int verbosity = 0;
};

int main() {
  auto pipe = mp::Pipe();
  if (!pipe.ok()) return 1;
  return pipe->first.Send(Config{}).ok() ? 0 : 1;
}
