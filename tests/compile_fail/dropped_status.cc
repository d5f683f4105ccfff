// EXPECT: ignoring return value
// EXPECT: Start
// A Status dropped on the floor: `p.Start();` (built with
// -Werror=unused-result, as a user's -Werror build would).
#include "multiprocessing/process/process.h"

int Child() { return 0; }

int main(int argc, char** argv) {
  mp::Init(argc, argv);
  mp::Process p(Child);
  p.Start();
  return 0;
}
