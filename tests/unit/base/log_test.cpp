#include "base/log.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fz::log {
namespace {

TEST(LogFilter, EmptyMeansInfo) {
  auto f = Filter::parse("");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->default_level(), Level::info);
  EXPECT_EQ(f->level_for("p2p"), Level::info);
}

TEST(LogFilter, DefaultAndPerTargetDirectives) {
  auto f = Filter::parse("info,p2p=debug,wireguard=trace");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->default_level(), Level::info);
  EXPECT_EQ(f->level_for("p2p"), Level::debug);
  EXPECT_EQ(f->level_for("wireguard"), Level::trace);
  EXPECT_EQ(f->level_for("portal"), Level::info);
}

TEST(LogFilter, HierarchyAndSpecificity) {
  auto f = Filter::parse("warn,p2p=debug,p2p::ice=error");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->level_for("p2p::turn"), Level::debug);
  EXPECT_EQ(f->level_for("p2p::ice"), Level::error);
  EXPECT_EQ(f->level_for("p2p::ice::checks"), Level::error);
  EXPECT_EQ(f->level_for("p2pfoo"), Level::warn);  // not a child of p2p
}

TEST(LogFilter, BareTargetEnablesEverythingAndUnknownTargetsAreAccepted) {
  auto f = Filter::parse("error,gateway,some_future_target=debug");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->level_for("gateway"), Level::trace);
  EXPECT_EQ(f->level_for("some_future_target"), Level::debug);
}

TEST(LogFilter, LaterDirectiveForTheSameTargetWins) {
  auto f = Filter::parse("p2p=debug,p2p=warn");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->level_for("p2p"), Level::warn);
}

TEST(LogFilter, ReferenceCrateNamesMapToOurTargets) {
  auto f = Filter::parse("snownet=trace,boringtun=debug,phoenix_channel::x=warn");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->level_for("p2p"), Level::trace);
  EXPECT_EQ(f->level_for("wireguard"), Level::debug);
  EXPECT_EQ(f->level_for("portal::x"), Level::warn);
  EXPECT_EQ(f->level_for("portal"), Level::info);
}

TEST(LogFilter, CaseAndWhitespaceTolerated) {
  auto f = Filter::parse(" DEBUG , p2p = Warn ,");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->default_level(), Level::debug);
  EXPECT_EQ(f->level_for("p2p"), Level::warn);
}

TEST(LogFilter, RejectsNonsense) {
  EXPECT_FALSE(Filter::parse("p2p=loud"));
  EXPECT_FALSE(Filter::parse("=debug"));
  EXPECT_FALSE(Filter::parse("p2p[span]=debug"));
  EXPECT_EQ(Filter::parse("p2p=loud").error().code(), Errc::config);
}

TEST(Logging, TargetsFollowTheFilterAndSkipFormattingWhenDisabled) {
  std::vector<std::string> lines;
  set_writer([&](Level level, std::string_view target, std::string_view message) {
    lines.push_back(std::string(to_string(level)) + " " + std::string(target) + ": " +
                    std::string(message));
  });
  set_filter(*Filter::parse("warn,logtest=debug"));

  int formatted = 0;
  auto count = [&] {
    ++formatted;
    return 42;
  };
  FZ_DEBUG("logtest", "value {}", count());
  FZ_TRACE("logtest", "hidden {}", count());
  FZ_INFO("logtest::child", "child {}", 1);
  FZ_INFO("othertest", "hidden {}", count());
  FZ_WARN("othertest", "shown");

  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "debug logtest: value 42");
  EXPECT_EQ(lines[1], "info logtest::child: child 1");
  EXPECT_EQ(lines[2], "warn othertest: shown");
  EXPECT_EQ(formatted, 1);  // disabled statements never evaluate their arguments

  // Changing the filter applies to targets that already exist.
  set_filter(*Filter::parse("off"));
  FZ_ERROR("logtest", "nothing");
  EXPECT_EQ(lines.size(), 3u);

  set_writer(nullptr);
  set_filter(Filter());
}

}  // namespace
}  // namespace fz::log
