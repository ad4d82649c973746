#include "base/rng.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

namespace fz {
namespace {

// A counting generator: lets the test steer Rng::uniform's rejection path.
class ScriptedRng final : public Rng {
 public:
  explicit ScriptedRng(std::vector<std::uint64_t> values) : values_(std::move(values)) {}
  void fill(std::span<std::uint8_t> out) override {
    std::uint64_t v = values_.at(next_++ % values_.size());
    for (std::size_t i = 0; i < out.size(); i += sizeof v) {
      std::memcpy(out.data() + i, &v, std::min(sizeof v, out.size() - i));
    }
  }
  std::size_t draws() const { return next_; }

 private:
  std::vector<std::uint64_t> values_;
  std::size_t next_ = 0;
};

TEST(Rng, UniformStaysInRangeAndRejectsTheBiasedTail) {
  // For bound 3, values below 2^64 mod 3 (= 1) must be rejected: 0 is redrawn.
  ScriptedRng rng({0, 5});
  EXPECT_EQ(rng.uniform(3), 5u % 3);
  EXPECT_EQ(rng.draws(), 2u);
  ScriptedRng one({123});
  EXPECT_EQ(one.uniform(1), 0u);
  EXPECT_EQ(one.uniform(0), 0u);
  EXPECT_EQ(one.draws(), 0u);
  ScriptedRng many({~0ULL});
  for (int i = 0; i < 10; ++i)
    EXPECT_LT(many.uniform(1000), 1000u);
}

}  // namespace
}  // namespace fz
