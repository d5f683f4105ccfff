// User types with their own Codec, for the codec's tests (ipc/codec_test.cc,
// tests/pickle_interop_test.cc, tests/pickle_safety_test.cc): the extension
// point used the way ipc/codec.h documents it.
#ifndef MULTIPROCESSING_IPC_TESTDATA_CODEC_TEST_TYPES_H_
#define MULTIPROCESSING_IPC_TESTDATA_CODEC_TEST_TYPES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "multiprocessing/ipc/codec.h"

// A 3-tuple on the wire: (x, y, label).
struct Point {
  int x = 0;
  int y = 0;
  std::string label;
  bool operator==(const Point& o) const {
    return x == o.x && y == o.y && label == o.label;
  }
};

// A recursive type: a list of lists of ... as deep as the input says.
struct Tree {
  std::vector<Tree> children;
};

namespace mp {
template <>
struct Codec<Point> {
  static void Encode(const Point& p, Encoder& e) {
    e.EncodeTuple(p.x, p.y, p.label);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Point* p) {
    return d.DecodeTuple(&p->x, &p->y, &p->label);
  }
};
template <>
struct Codec<Tree> {
  static void Encode(const Tree& t, Encoder& e) { e.Encode(t.children); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Tree* t) {
    return d.Decode(&t->children);
  }
};
}  // namespace mp

#endif  // MULTIPROCESSING_IPC_TESTDATA_CODEC_TEST_TYPES_H_
