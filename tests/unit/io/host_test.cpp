// The gateway id file and the host facts for the User-Agent.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "crypto/rng.hpp"
#include "io/firezone_id.hpp"
#include "io/os_facts.hpp"

namespace fz::io {
namespace {

crypto::ChaChaRng test_rng() {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 3;
  return crypto::ChaChaRng(seed);
}

struct TempDir {
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("fz-io-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
  static inline int counter = 0;
};

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(GatewayIdentity, CreatesTheFileOnceAndIsStableAfterwards) {
  TempDir dir;
  const auto file = dir.path / "firezone" / "gateway_id";
  auto rng = test_rng();
  auto first = load_gateway_identity(std::nullopt, rng, file);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->id.size(), 64u);
  EXPECT_EQ(first->external_id, first->id);  // a hex id is not a UUID: sent as is
  EXPECT_EQ(read(file), first->id);

  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat(file.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0770u);

  auto second = load_gateway_identity(std::nullopt, rng, file);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->external_id, first->external_id);
}

TEST(GatewayIdentity, ReferenceFilesAreUsedVerbatim) {
  TempDir dir;
  std::filesystem::create_directories(dir.path);
  const auto file = dir.path / "gateway_id";
  std::ofstream(file) << R"({"id":"abc123"})";
  auto rng = test_rng();
  auto id = load_gateway_identity(std::nullopt, rng, file);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->external_id, R"({"id":"abc123"})");
  EXPECT_EQ(read(file), R"({"id":"abc123"})");  // untouched
}

TEST(GatewayIdentity, EnvironmentWinsAndUuidsAreHashed) {
  TempDir dir;
  auto rng = test_rng();
  auto id =
      load_gateway_identity("67e55044-10b1-426f-9247-bb680e5fe0c8", rng, dir.path / "gateway_id");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->external_id, "002031b96bd3225661940cdee05b257cfad10484960fc931ea458378fc68aaec");
  EXPECT_FALSE(std::filesystem::exists(dir.path / "gateway_id"));
}

TEST(GatewayIdentity, UnreadableFileIsAnErrorNotANewIdentity) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  std::filesystem::create_directories(dir.path);
  const auto file = dir.path / "gateway_id";
  std::ofstream(file) << "existing";
  ::chmod(file.c_str(), 0);
  auto rng = test_rng();
  auto id = load_gateway_identity(std::nullopt, rng, file);
  EXPECT_FALSE(id.ok());
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(read(file), "existing");
}

TEST(OsFacts, GathersSomethingPlausible) {
  const auto os = gather_os_facts();
  EXPECT_FALSE(os.os_type.empty());
  EXPECT_FALSE(os.os_version.empty());
  ASSERT_TRUE(os.arch.has_value());
  ASSERT_TRUE(os.kernel_release.has_value());
  const auto ua = portal::user_agent(os);
  EXPECT_NE(ua.find(" connlib/1.4.16 ("), std::string::npos) << ua;
  EXPECT_TRUE(host_name().has_value());
}

}  // namespace
}  // namespace fz::io
