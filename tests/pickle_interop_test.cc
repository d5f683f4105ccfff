// Typed messages cross between C++ and CPython: a python3 child
// (tests/pickle_peer.py) on an inherited descriptor uses CPython's own
// multiprocessing.connection.Connection.send()/recv() and pickle, and this
// test uses mp::Connection::Send<T>()/Recv<T>(), for every type of the table
// at the top of ipc/codec.h, both ways, with exact values on each side.
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/codec_protobuf.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/py_value.h"
#include "multiprocessing/ipc/testdata/codec_test_types.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/tests/testdata/pickle_interop.pb.h"

namespace mp {

namespace {

constexpr char kUnicode[] = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80";

// MIB16 in pickle_peer.py: bytes(range(256)) repeated to 16 MiB.
std::string Mib16() {
  std::string s(16 << 20, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(i);
  return s;
}

PyValue I(absl::int128 v) { return PyValue::Int(v); }
PyValue S(const char* v) { return PyValue::Str(v); }

class PickleInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pipe = Pipe();
    ASSERT_TRUE(pipe.ok()) << pipe.status();
    conn_ = std::move(pipe->first);
    ASSERT_TRUE(conn_.MarkShared().ok());  // ToPython reads it too
    Connection theirs = std::move(pipe->second);
    platform::NativeHandle fd = theirs.fileno();
    auto python = platform::LaunchProgram(
        {"python3", "tests/pickle_peer.py", std::to_string(fd)}, {&fd, 1});
    ASSERT_TRUE(python.ok()) << python.status();
    python_ = std::move(*python);
    ASSERT_TRUE(theirs.Close().ok());
  }

  // Sends `value`; the peer checks it against its next TO_PYTHON entry.
  template <typename T>
  void ToPython(const T& value) {
    absl::Status sent;
    // A writer thread: a 16 MiB message does not fit the pipe. A Connection
    // is not for two threads at once, so the reply is read through a second
    // one on a duplicate of the handle.
    Connection reader(platform::Duplicate(conn_.fileno()).value(),
                      /*readable=*/true, /*writable=*/false);
    // Two Connections read one stream: neither may read ahead (bytes one
    // received ahead would be lost to the other).
    ASSERT_TRUE(reader.MarkShared().ok());
    std::thread writer([&] { sent = conn_.Send(value); });
    absl::StatusOr<std::string> verdict = reader.Recv<std::string>();
    writer.join();
    ASSERT_TRUE(sent.ok()) << sent;
    ASSERT_TRUE(verdict.ok()) << verdict.status();
    EXPECT_EQ(*verdict, "ok") << "sent #" << sent_;
    ++sent_;
  }

  // The next FROM_PYTHON value, as a T.
  template <typename T>
  T FromPython() {
    absl::StatusOr<T> v = conn_.Recv<T>();
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : T{};
  }

  Connection conn_;
  platform::ChildProcess python_;
  int sent_ = 0;
};

TEST_F(PickleInteropTest, EveryTypeBothWays) {
  // ---- 1. C++ -> Python (TO_PYTHON in pickle_peer.py, in order).
  ToPython(std::numeric_limits<int8_t>::min());
  ToPython(std::numeric_limits<int8_t>::max());
  ToPython(std::numeric_limits<uint8_t>::max());
  ToPython(std::numeric_limits<int16_t>::min());
  ToPython(std::numeric_limits<int16_t>::max());
  ToPython(std::numeric_limits<uint16_t>::max());
  ToPython(std::numeric_limits<int32_t>::min());
  ToPython(std::numeric_limits<int32_t>::max());
  ToPython(std::numeric_limits<uint32_t>::max());
  ToPython(std::numeric_limits<int64_t>::min());
  ToPython(std::numeric_limits<int64_t>::max());
  ToPython(std::numeric_limits<uint64_t>::max());
  ToPython(std::numeric_limits<absl::int128>::min());
  ToPython(std::numeric_limits<absl::int128>::max());
  ToPython(absl::int128(1) << 100);
  ToPython('A');
  ToPython(true);
  ToPython(false);
  ToPython(1.5);
  ToPython(std::numeric_limits<double>::infinity());
  ToPython(-std::numeric_limits<double>::infinity());
  ToPython(std::nan(""));
  ToPython(-0.0);
  ToPython(0.25f);
  ToPython(std::string(kUnicode));
  ToPython(std::string());
  ToPython(Bytes(std::string("\x00\xff", 2)));
  ToPython(Bytes());
  ToPython(Bytes(Mib16()));
  ToPython(std::vector<unsigned char>{1, 2});
  ToPython(std::vector<int>{1, 2, 3});
  ToPython(std::array<int16_t, 2>{4, 5});
  ToPython(std::vector<std::string>());
  ToPython(std::pair<int, std::string>(7, "seven"));
  ToPython(std::tuple<int64_t, double, std::string>(1, 2.5, "x"));
  ToPython(std::tuple<>());
  ToPython(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  ToPython(std::unordered_map<int, std::string>{{1, "one"}});
  ToPython(std::map<int, int>());
  ToPython(std::set<int>{1, 2, 3});
  ToPython(std::unordered_set<std::string>{"x"});
  ToPython(std::set<std::string>());
  ToPython(std::map<std::string,
                    std::vector<std::pair<int, std::optional<std::string>>>>{
      {"k", {{1, std::nullopt}, {2, "y"}}}});
  ToPython(std::optional<int>());
  ToPython(std::optional<int>(5));
  ToPython(std::monostate());
  ToPython(std::variant<int, std::string>("alt"));
  ToPython(Point{1, 2, "p"});
  pickle_interop::Item item;
  item.set_name("n");
  item.set_id(7);
  ToPython(item);
  ToPython(PyValue::Dict(
      {{PyValue::Tuple({I(1), I(2)}), PyValue::FrozenSet({I(3)})},
       {S("list"), PyValue::List({PyValue::None(), PyValue::Bool(true),
                                  PyValue::Bytes("b"), PyValue::Float(1)})}}));
  // Keys Python could not hash as lists and sets go as tuples and frozensets.
  ToPython(std::map<std::set<int>, int>{{{1, 2}, 1}});
  ToPython(std::map<std::vector<int>, int>{{{1, 2}, 3}});

  // ---- 2. Python -> C++ (FROM_PYTHON, in order).
  EXPECT_EQ(FromPython<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(FromPython<int64_t>(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(FromPython<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(FromPython<absl::int128>(), absl::int128(1) << 100);
  EXPECT_EQ(FromPython<absl::int128>(),
            std::numeric_limits<absl::int128>::min());
  {
    absl::StatusOr<absl::int128> beyond = conn_.Recv<absl::int128>();  // 2**200
    EXPECT_EQ(beyond.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(beyond.status().message(), "128 bits"))
        << beyond.status();
  }
  {
    absl::StatusOr<uint8_t> fits = conn_.Recv<uint8_t>();  // 255
    ASSERT_TRUE(fits.ok()) << fits.status();
    EXPECT_EQ(*fits, 255);
    absl::StatusOr<uint8_t> too_big = conn_.Recv<uint8_t>();  // 256
    EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
    absl::StatusOr<uint64_t> negative = conn_.Recv<uint64_t>();  // -1
    EXPECT_EQ(negative.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(FromPython<bool>(), true);
  EXPECT_EQ(FromPython<double>(), 1.5);
  EXPECT_EQ(FromPython<double>(), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(FromPython<double>()));
  {
    const double negative_zero = FromPython<double>();
    EXPECT_EQ(negative_zero, 0.0);
    EXPECT_TRUE(std::signbit(negative_zero));
  }
  EXPECT_EQ(FromPython<float>(), 3.0f);  // an int into a float type
  EXPECT_EQ(FromPython<std::string>(), kUnicode);
  EXPECT_EQ(FromPython<std::string>(), "");
  EXPECT_EQ(FromPython<Bytes>(), std::string("\x00\xff", 2));
  EXPECT_EQ(FromPython<std::vector<char>>(), std::vector<char>());
  EXPECT_TRUE(FromPython<Bytes>() == Mib16()) << "16 MiB differ";
  EXPECT_EQ(FromPython<std::vector<int>>(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ((FromPython<std::array<int, 2>>()), (std::array<int, 2>{4, 5}));
  EXPECT_EQ((FromPython<std::pair<int, std::string>>()),
            (std::pair<int, std::string>(1, "x")));  // from a list
  EXPECT_EQ(FromPython<std::vector<double>>(), std::vector<double>());
  EXPECT_EQ((FromPython<std::map<std::string, int>>()),
            (std::map<std::string, int>{{"a", 1}}));
  EXPECT_EQ((FromPython<std::unordered_map<int, std::string>>()),
            (std::unordered_map<int, std::string>{{1, "x"}}));
  EXPECT_EQ(FromPython<std::set<int>>(), (std::set<int>{1, 2}));
  EXPECT_EQ(FromPython<std::unordered_set<int>>(),
            (std::unordered_set<int>{3}));  // from a frozenset
  EXPECT_TRUE((FromPython<std::map<int, int>>().empty()));
  EXPECT_TRUE(FromPython<std::set<std::string>>().empty());
  EXPECT_TRUE(FromPython<std::unordered_set<int>>().empty());
  EXPECT_EQ(
      (FromPython<
          std::map<std::string,
                   std::vector<std::pair<int, std::optional<std::string>>>>>()),
      (std::map<std::string,
                std::vector<std::pair<int, std::optional<std::string>>>>{
          {"k", {{1, std::nullopt}, {2, "y"}}}}));
  EXPECT_EQ(FromPython<std::optional<int>>(), std::nullopt);
  {
    using V = std::variant<int64_t, std::string>;
    EXPECT_EQ(FromPython<V>(), V(int64_t{5}));
    EXPECT_EQ(FromPython<V>(), V(std::string("x")));
  }
  EXPECT_EQ(FromPython<Point>(), (Point{1, 2, "p"}));
  {
    pickle_interop::Item got = FromPython<pickle_interop::Item>();
    EXPECT_EQ(got.name(), "item");
    EXPECT_EQ(got.id(), 1234);
  }
  EXPECT_EQ(
      FromPython<PyValue>(),
      PyValue::Dict(
          {{S("any"),
            PyValue::List(
                {I(1),
                 PyValue::Tuple({PyValue::Float(2.5), PyValue::Bytes("z")}),
                 PyValue::Dict({{I(3), PyValue::None()}}),
                 PyValue::Set({PyValue::FrozenSet({I(4)})})})}}));
  {
    // CPython's send() pickles with protocol 4, where a bytearray is a
    // REDUCE of builtins.bytearray: refused (protocol 5's BYTEARRAY8 is
    // read, below).
    absl::StatusOr<Bytes> bytearray = conn_.Recv<Bytes>();
    EXPECT_EQ(bytearray.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(bytearray.status().message(), "STACK_GLOBAL"))
        << bytearray.status();
  }

  // ---- 3. pickle.dumps(v, protocol=p) for p in 2..5 (PROTOCOL_VALUES).
  // Protocol 2 has no bytes opcodes: bytes are a REDUCE of
  // _codecs.encode (a GLOBAL), refused. Protocols 2 and 3 have no set
  // opcodes: sets and frozensets are REDUCEs of builtins.set too. Below 5,
  // a bytearray is always a REDUCE.
  const std::vector<std::pair<PyValue, int>> by_protocol = {
      // The value, and the lowest protocol that pickles it without code.
      {I(42), 2},
      {I(std::numeric_limits<int64_t>::min()), 2},
      {I(absl::int128(1) << 100), 2},
      {PyValue::Float(1.5), 2},
      {S("h\xc3\xa9llo"), 2},
      {PyValue::Bytes(std::string("\x00"
                                  "b",
                                  2)),
       3},
      {PyValue::Tuple({I(1), S("a")}), 2},
      {PyValue::List({I(1), PyValue::List({I(2)})}), 2},
      {PyValue::Dict({{S("a"), PyValue::Tuple({I(1), I(2)})}}), 2},
      {PyValue::Set({I(1), I(2)}), 4},
      {PyValue::FrozenSet({I(3)}), 4},
      {PyValue::None(), 2},
      {PyValue::Bool(true), 2},
      {PyValue::Bytes("ab"), 5},  // bytearray
      // [[1, 2]] * 3: one list, memoized, referenced three times.
      {PyValue::List({PyValue::List({I(1), I(2)}), PyValue::List({I(1), I(2)}),
                      PyValue::List({I(1), I(2)})}),
       2},
  };
  for (int protocol = 2; protocol <= 5; ++protocol) {
    for (const auto& [expected, lowest] : by_protocol) {
      absl::StatusOr<PyValue> got = conn_.Recv<PyValue>();
      if (protocol >= lowest) {
        EXPECT_TRUE(got.ok()) << "protocol " << protocol << ": " << expected
                              << ": " << got.status();
        if (got.ok()) {
          EXPECT_EQ(*got, expected) << "protocol " << protocol;
        }
      } else {
        EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
            << "protocol " << protocol << ": " << expected;
        EXPECT_TRUE(absl::StrContains(got.status().message(), "GLOBAL"))
            << got.status();
      }
    }
  }

  // ---- 4. PyValue::Repr() against Python's repr() (REPR_VALUES).
  const int count = FromPython<int>();
  EXPECT_GE(count, 20);
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<std::pair<PyValue, std::string>> pair =
        conn_.Recv<std::pair<PyValue, std::string>>();
    ASSERT_TRUE(pair.ok()) << pair.status();
    EXPECT_EQ(pair->first.Repr(), pair->second);
  }

  // ---- 5. What Encode() writes, loaded by pickle.loads() and sent back.
  using Message =
      std::tuple<int64_t, std::string, std::vector<double>, Bytes,
                 std::map<std::string, std::set<int>>, std::optional<bool>>;
  const Message message(-5, kUnicode, {0.5, -2}, Bytes("\x01"), {{"s", {1, 2}}},
                        std::nullopt);
  std::string raw;
  ASSERT_TRUE(Encode(message, &raw).ok());
  ASSERT_TRUE(conn_.SendBytes(raw).ok());
  EXPECT_EQ(FromPython<Message>(), message);

  ASSERT_TRUE(conn_.Send(std::string("done")).ok());
  ASSERT_TRUE(conn_.Close().ok());
  EXPECT_EQ(platform::WaitForExit(python_, std::nullopt).value(), 0);
}

}  // namespace
}  // namespace mp
