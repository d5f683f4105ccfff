// EXPECT: NoCodecFor<
// EXPECT: Config
// EXPECT: this type has no mp::Codec
// Registering a target whose parameter has no mp::Codec for spawn.
#include "multiprocessing/process/process.h"

struct Config {
  int verbosity = 0;
};

int Run(Config config) { return config.verbosity; }
MP_REGISTER_TARGET(Run);

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  return 0;
}
