// The gateway's configuration: flags, environment variables, token sources, and errors that name
// the variable at fault without ever showing the token.
#include "app/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fz::app {
namespace {

constexpr const char* kToken =
    "SFMyNTY.g2gDaANtAAAAJGMxMDM4ZmY1LWE3ZTctNDk4OC05MGRhLTllYjA0ZGQ4ZjUzYg";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name :
         {"FIREZONE_TOKEN", "FIREZONE_TOKEN_FILE", "CREDENTIALS_DIRECTORY", "FIREZONE_API_URL",
          "FIREZONE_ID", "FIREZONE_NAME", "HEALTH_CHECK_ADDR", "RUST_LOG",
          "FIREZONE_PROTOCOL_VERSION", "FIREZONE_NO_TELEMETRY"})
      ::unsetenv(name);
    dir_ =
        std::filesystem::temp_directory_path() / ("fz-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ParsedArgs parse(std::vector<std::string> args) {
    std::vector<const char*> argv{"firezone-gateway"};
    for (const auto& a : args)
      argv.push_back(a.c_str());
    return parse_args(static_cast<int>(argv.size()), argv.data());
  }
  std::string write_file(const std::string& name, const std::string& content) {
    const auto path = dir_ / name;
    std::ofstream(path) << content;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigTest, DefaultsMatchTheReference) {
  auto p = parse({kToken});
  ASSERT_EQ(p.outcome, ParseOutcome::run) << p.message;
  EXPECT_EQ(p.config.token, kToken);
  EXPECT_EQ(p.config.api_url, "wss://api.firezone.dev");
  EXPECT_EQ(p.config.health_check.to_string(), "0.0.0.0:8080");
  EXPECT_EQ(p.config.protocol_version, "1.4.16");
  EXPECT_FALSE(p.config.no_check);
  EXPECT_FALSE(p.config.firezone_id.has_value());
}

TEST_F(ConfigTest, EnvironmentVariablesAreRead) {
  ::setenv("FIREZONE_TOKEN", kToken, 1);
  ::setenv("FIREZONE_API_URL", "ws://127.0.0.1:4000", 1);
  ::setenv("FIREZONE_ID", "gw-1", 1);
  ::setenv("FIREZONE_NAME", "edge", 1);
  ::setenv("HEALTH_CHECK_ADDR", "127.0.0.1:9090", 1);
  ::setenv("FIREZONE_NO_TELEMETRY", "true", 1);
  auto p = parse({"--no-check"});
  ASSERT_EQ(p.outcome, ParseOutcome::run) << p.message;
  EXPECT_EQ(p.config.token, kToken);
  EXPECT_EQ(p.config.api_url, "ws://127.0.0.1:4000");
  EXPECT_EQ(p.config.firezone_id, "gw-1");
  EXPECT_EQ(p.config.firezone_name, "edge");
  EXPECT_EQ(p.config.health_check.to_string(), "127.0.0.1:9090");
  EXPECT_TRUE(p.config.no_check);
  EXPECT_TRUE(p.config.no_telemetry);
}

TEST_F(ConfigTest, TokenFromAFileIsTrimmed) {
  auto p = parse({"--token-file", write_file("token", std::string("  ") + kToken + "\n")});
  ASSERT_EQ(p.outcome, ParseOutcome::run) << p.message;
  EXPECT_EQ(p.config.token, kToken);
}

TEST_F(ConfigTest, TokenFromTheSystemdCredential) {
  write_file("FIREZONE_TOKEN", std::string(kToken) + "\n");
  ::setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  auto p = parse({});
  ASSERT_EQ(p.outcome, ParseOutcome::run) << p.message;
  EXPECT_EQ(p.config.token, kToken);
}

TEST_F(ConfigTest, TheEnvironmentWinsOverTheCredential) {
  write_file("FIREZONE_TOKEN", "from-credential");
  ::setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  ::setenv("FIREZONE_TOKEN", kToken, 1);
  auto p = parse({});
  ASSERT_EQ(p.outcome, ParseOutcome::run) << p.message;
  EXPECT_EQ(p.config.token, kToken);
}

TEST_F(ConfigTest, MissingTokenIsAClearError) {
  auto p = parse({});
  EXPECT_EQ(p.outcome, ParseOutcome::exit_failure);
  EXPECT_NE(p.message.find("FIREZONE_TOKEN"), std::string::npos);
}

TEST_F(ConfigTest, UnreadableTokenFileNamesTheVariable) {
  auto p = parse({"--token-file", (dir_ / "missing").string()});
  EXPECT_EQ(p.outcome, ParseOutcome::exit_failure);
  EXPECT_NE(p.message.find("FIREZONE_TOKEN_FILE"), std::string::npos);
}

TEST_F(ConfigTest, BadValuesNameTheirVariableAndNeverShowTheToken) {
  struct Case {
    const char* env;
    const char* value;
  };
  for (const Case& c :
       {Case{"HEALTH_CHECK_ADDR", "not-an-address"}, Case{"FIREZONE_API_URL", "ftp://example.com"},
        Case{"FIREZONE_PROTOCOL_VERSION", "1.4"}, Case{"RUST_LOG", "info,=,bad=="}}) {
    SetUp();
    ::setenv("FIREZONE_TOKEN", kToken, 1);
    ::setenv(c.env, c.value, 1);
    auto p = parse({});
    EXPECT_EQ(p.outcome, ParseOutcome::exit_failure) << c.env;
    if (std::string(c.env) != "RUST_LOG") {
      EXPECT_NE(p.message.find(c.env), std::string::npos) << p.message;
    }
    EXPECT_EQ(p.message.find(kToken), std::string::npos) << p.message;
  }
}

TEST_F(ConfigTest, UnknownFlagsDoNotEchoTheToken) {
  auto p = parse({kToken, "--bogus"});
  EXPECT_EQ(p.outcome, ParseOutcome::exit_failure);
  EXPECT_EQ(p.message.find(kToken), std::string::npos) << p.message;
  auto q = parse({kToken, "extra-positional-argument"});
  EXPECT_EQ(q.outcome, ParseOutcome::exit_failure);
  EXPECT_EQ(q.message.find(kToken), std::string::npos) << q.message;
}

TEST_F(ConfigTest, HelpAndVersionExitSuccessfully) {
  auto h = parse({"--help"});
  EXPECT_EQ(h.outcome, ParseOutcome::exit_success);
  EXPECT_NE(h.message.find("FIREZONE_TOKEN"), std::string::npos);
  auto v = parse({"--version"});
  EXPECT_EQ(v.outcome, ParseOutcome::exit_success);
  EXPECT_NE(v.message.find("firezone-gateway"), std::string::npos);
}

TEST(Redact, ReplacesEveryOccurrence) {
  EXPECT_EQ(redact("a secret and secret", "secret"), "a <redacted> and <redacted>");
  EXPECT_EQ(redact("nothing", ""), "nothing");
}

}  // namespace
}  // namespace fz::app
