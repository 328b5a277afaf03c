// The disk kernel cache across processes: a second process loads every kernel instead of
// compiling it; corrupt or truncated entries are ignored and rebuilt; two processes compiling
// the same function at once both get the right result. The processes are tests/tools/cache_probe.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "ember/codegen/disk_cache.h"

namespace {

namespace fs = std::filesystem;

struct Probe {
  long long compiles = -1, disk_hits = -1;
  double checksum = 0;
};

// A fresh, empty cache directory.
std::string fresh_dir() {
  std::string templ = (fs::temp_directory_path() / "ember-cache-XXXXXX").string();
  EXPECT_NE(mkdtemp(templ.data()), nullptr);
  return templ;
}

FILE* start(const std::string& dir, const std::string& env = "") {
  const std::string cmd = env + " EMBER_CACHE_DIR='" + dir + "' '" EMBER_CACHE_PROBE "'";
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  return p;
}

Probe finish(FILE* p) {
  Probe r;
  char line[256] = {};
  EXPECT_NE(std::fgets(line, sizeof line, p), nullptr);
  EXPECT_EQ(std::sscanf(line, "compiles=%lld disk_hits=%lld checksum=%lf", &r.compiles,
                        &r.disk_hits, &r.checksum),
            3)
      << line;
  EXPECT_EQ(pclose(p), 0);
  return r;
}

Probe run(const std::string& dir, const std::string& env = "") { return finish(start(dir, env)); }

std::vector<fs::path> entries(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DiskCache, ASecondProcessCompilesNothing) {
  const std::string dir = fresh_dir();
  const Probe first = run(dir);
  EXPECT_GE(first.compiles, 3);  // a chain, a row kernel, the matmul's epilogue at least
  EXPECT_EQ(first.disk_hits, 0);
  EXPECT_EQ(int64_t(entries(dir).size()), first.compiles);
  const Probe second = run(dir);
  EXPECT_EQ(second.compiles, 0);
  EXPECT_EQ(second.disk_hits, first.compiles);
  EXPECT_EQ(second.checksum, first.checksum);
  fs::remove_all(dir);
}

TEST(DiskCache, CorruptAndTruncatedEntriesAreRebuilt) {
  const std::string dir = fresh_dir();
  const Probe first = run(dir);
  const auto files = entries(dir);
  ASSERT_GE(files.size(), 2u);
  {  // one entry with a flipped byte in its object code
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-10, std::ios::end);
    char c = 0;
    f.read(&c, 1);
    f.seekp(-10, std::ios::end);
    c = char(c ^ 0x5a);
    f.write(&c, 1);
  }
  fs::resize_file(files[1], fs::file_size(files[1]) / 2);  // one cut short
  const Probe repaired = run(dir);
  EXPECT_EQ(repaired.compiles, 2);
  EXPECT_EQ(repaired.disk_hits, first.compiles - 2);
  EXPECT_EQ(repaired.checksum, first.checksum);
  const Probe after = run(dir);  // the rebuilt entries were written back
  EXPECT_EQ(after.compiles, 0);
  EXPECT_EQ(after.checksum, first.checksum);
  fs::remove_all(dir);
}

// A size limit evicts the least recently used entries; what stays still loads.
TEST(DiskCache, StaysUnderItsSizeLimit) {
  const std::string dir = fresh_dir();
  const Probe first = run(dir);
  uintmax_t total = 0;
  for (const auto& f : entries(dir)) total += fs::file_size(f);
  ASSERT_GE(entries(dir).size(), 3u);
  // A limit below the three entries: the next process, which compiles again what it evicts,
  // leaves at most the limit (each write prunes to 80% of it).
  const double limit_mb = double(total - 1) / (1024 * 1024);
  fs::remove(entries(dir).front());  // one miss, so the next process writes (and prunes)
  const Probe limited = run(dir, "EMBER_CACHE_MAX_MB=" + std::to_string(limit_mb));
  EXPECT_EQ(limited.checksum, first.checksum);
  uintmax_t after = 0;
  for (const auto& f : entries(dir)) after += fs::file_size(f);
  EXPECT_LE(after, uintmax_t(limit_mb * 1024 * 1024));
  EXPECT_LT(entries(dir).size(), 3u);
  fs::remove_all(dir);
}

TEST(DiskCache, TwoProcessesCompilingAtOnceAreBothRight) {
  const std::string reference_dir = fresh_dir();
  const Probe reference = run(reference_dir);
  for (int round = 0; round < 3; ++round) {
    const std::string dir = fresh_dir();
    FILE* a = start(dir);
    FILE* b = start(dir);
    const Probe pa = finish(a), pb = finish(b);
    EXPECT_EQ(pa.checksum, reference.checksum);
    EXPECT_EQ(pb.checksum, reference.checksum);
    const Probe later = run(dir);  // whichever write won, the entries are whole
    EXPECT_EQ(later.compiles, 0);
    EXPECT_EQ(later.checksum, reference.checksum);
    for (const auto& f : entries(dir))
      EXPECT_EQ(f.string().find(".tmp."), std::string::npos) << f << " left behind";
    fs::remove_all(dir);
  }
  fs::remove_all(reference_dir);
}

// Entries planted by something else are rejected (a miss), never read blindly: a directory, a
// FIFO (which would block a plain open), a link to an endless device, a header whose lengths
// would wrap a bounds check. Storing over them replaces what can be replaced.
TEST(DiskCache, HostileEntriesAreMissesNotCrashesOrHangs) {
  using ember::codegen::DiskCache;
  const std::string dir = fresh_dir();
  ember::codegen::KernelCacheOptions options;
  options.dir = dir;
  const DiskCache cache("cpu", "o", options);
  cache.store("key-ok", "binary");
  EXPECT_EQ(cache.load("key-ok"), std::optional<std::string>("binary"));
  EXPECT_EQ(cache.load("key-missing"), std::nullopt);

  fs::create_directory(cache.path_of("key-dir"));
  EXPECT_EQ(cache.load("key-dir"), std::nullopt);
  cache.store("key-dir", "x");  // cannot rename over a directory: still a miss, no temp left
  EXPECT_EQ(cache.load("key-dir"), std::nullopt);

  ASSERT_EQ(mkfifo(cache.path_of("key-fifo").c_str(), 0600), 0);
  EXPECT_EQ(cache.load("key-fifo"), std::nullopt);
  cache.store("key-fifo", "fifo replaced");
  EXPECT_EQ(cache.load("key-fifo"), std::optional<std::string>("fifo replaced"));

  fs::create_symlink("/dev/zero", cache.path_of("key-zero"));
  EXPECT_EQ(cache.load("key-zero"), std::nullopt);

  {  // magic, then checksum 0, key length 2^63, binary length 2^63 + 1
    std::ofstream f(cache.path_of("key-wrap"), std::ios::binary);
    const uint64_t fields[3] = {0, uint64_t(1) << 63, (uint64_t(1) << 63) + 1};
    f.write("EMBRKC01", 8);
    f.write(reinterpret_cast<const char*>(fields), sizeof fields);
    f.write("key-wrap", 8);
  }
  EXPECT_EQ(cache.load("key-wrap"), std::nullopt);
  for (const auto& f : entries(dir))
    EXPECT_EQ(f.string().find(".tmp."), std::string::npos) << f << " left behind";
  fs::remove_all(dir);
}

}  // namespace
