#include "ember/codegen/disk_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "ember/runtime/hash.h"
#include "ember/runtime/log.h"

namespace ember::codegen {
namespace {

namespace fs = std::filesystem;

// An entry: magic, then (checksum of key and binary, key length, binary length) as u64, the key,
// the binary.
constexpr char kEntryMagic[8] = {'E', 'M', 'B', 'R', 'K', 'C', '0', '1'};
constexpr size_t kHeaderSize = sizeof kEntryMagic + 3 * sizeof(uint64_t);
// No kernel binary comes near this; a larger file is not an entry of ours (a sparse file, a
// link to a device) and is not read.
constexpr uint64_t kMaxEntryBytes = uint64_t(1) << 30;

std::string find_directory(const KernelCacheOptions& options) {
  if (!options.disk) return {};
  if (!options.dir.empty()) return options.dir;
  if (const char* env = std::getenv("EMBER_CACHE_DIR"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/ember";
  return {};
}

void log_cache(const std::string& message) {
  if (log_enabled("cache")) log_message("cache", message);
}

// The whole file at path when it is a regular file of at most kMaxEntryBytes, else nullopt and
// `why` says why. Opened non-blocking, so a FIFO planted in the cache cannot hang the reader.
std::optional<std::string> read_regular_file(const std::string& path, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // missing: a plain miss
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    why = "not a regular file";
    return std::nullopt;
  }
  if (uint64_t(st.st_size) > kMaxEntryBytes) {
    why = "larger than any kernel binary";
    return std::nullopt;
  }
  std::string bytes(size_t(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = "short read";
      return std::nullopt;
    }
    done += size_t(n);
  }
  return bytes;
}

}  // namespace

std::optional<std::string> parse_cache_entry(const std::string& bytes, const std::string& key,
                                             std::string& why) {
  auto reject = [&](const char* reason) -> std::optional<std::string> {
    why = reason;
    return std::nullopt;
  };
  if (bytes.size() < kHeaderSize) return reject("truncated header");
  if (std::memcmp(bytes.data(), kEntryMagic, sizeof kEntryMagic) != 0) return reject("bad magic");
  uint64_t fields[3];
  std::memcpy(fields, bytes.data() + sizeof kEntryMagic, sizeof fields);
  const auto [checksum, key_size, binary_size] = fields;
  // Each length is checked against what is left, so no sum of them can wrap.
  const uint64_t rest = bytes.size() - kHeaderSize;
  if (key_size > rest || binary_size != rest - key_size) return reject("wrong length");
  const std::string_view stored_key(bytes.data() + kHeaderSize, size_t(key_size));
  const std::string_view binary(bytes.data() + kHeaderSize + key_size, size_t(binary_size));
  if (fnv1a64(binary, fnv1a64(stored_key)) != checksum) return reject("checksum mismatch");
  if (stored_key != key) return reject("another kernel with the same hash");
  return std::string(binary);
}

namespace {

// Whether a file name is one of the cache's entries (any backend): <backend>-<16 hex>.<ext>.
bool is_entry_name(const std::string& name) {
  const size_t dash = name.find('-');
  if (dash == std::string::npos || dash == 0 || name.size() < dash + 18) return false;
  for (size_t i = dash + 1; i < dash + 17; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return false;
  return name[dash + 17] == '.';
}

// Keeps the directory under $EMBER_CACHE_MAX_MB (default 1024): the entries used least recently
// (a hit refreshes an entry's time) go first, down to 80% of the limit; temporary files an
// interrupted writer left for over an hour go too. Runs after each write, which only a
// compilation (tens of milliseconds) causes.
void prune(const std::string& dir) {
  double limit_mb = 1024;
  if (const char* env = std::getenv("EMBER_CACHE_MAX_MB"); env && *env) limit_mb = std::atof(env);
  const auto limit = static_cast<uintmax_t>(std::max(0.0, limit_mb) * 1024 * 1024);
  std::error_code ec;
  struct File {
    fs::file_time_type time;
    uintmax_t size;
    fs::path path;
  };
  std::vector<File> files;
  uintmax_t total = 0;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!is_entry_name(name) || !e.is_regular_file(ec)) continue;
    const auto time = e.last_write_time(ec);
    if (ec) continue;
    if (name.find(".tmp.") != std::string::npos) {
      if (now - time > std::chrono::hours(1)) fs::remove(e.path(), ec);
      continue;
    }
    const uintmax_t size = e.file_size(ec);
    if (ec) continue;
    files.push_back({time, size, e.path()});
    total += size;
  }
  if (total <= limit) return;
  std::sort(files.begin(), files.end(),
            [](const File& a, const File& b) { return a.time < b.time; });
  for (const File& f : files) {
    if (total <= limit / 5 * 4) break;
    if (fs::remove(f.path, ec)) {
      total -= f.size;
      log_cache("evicted " + f.path.string());
    }
  }
}

}  // namespace

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

DiskCache::DiskCache(std::string backend, std::string extension, const KernelCacheOptions& options)
    : backend_(std::move(backend)),
      extension_(std::move(extension)),
      dir_(find_directory(options)) {}

std::string DiskCache::path_of(const std::string& key) const {
  if (!enabled()) return {};
  return dir_ + "/" + backend_ + "-" + hex64(fnv1a64(key)) + "." + extension_;
}

bool DiskCache::contains(const std::string& key) const {
  std::error_code ec;
  return enabled() && fs::is_regular_file(path_of(key), ec);
}

std::optional<std::string> DiskCache::load(const std::string& key) const {
  if (!enabled()) return std::nullopt;
  const std::string path = path_of(key);
  std::string why;
  std::optional<std::string> binary;
  if (const auto bytes = read_regular_file(path, why)) binary = parse_cache_entry(*bytes, key, why);
  if (!binary) {
    if (!why.empty()) log_cache("ignoring " + path + ": " + why);
    return std::nullopt;
  }
  std::error_code ec;  // recently used: the last to be evicted
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
  return binary;
}

void DiskCache::store(const std::string& key, const std::string& binary) const {
  if (!enabled()) return;
  const std::string path = path_of(key);
  std::error_code ec;
  fs::create_directories(dir_, ec);
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const uint64_t fields[3] = {fnv1a64(binary, fnv1a64(key)), key.size(), binary.size()};
    out.write(kEntryMagic, sizeof kEntryMagic);
    out.write(reinterpret_cast<const char*>(fields), sizeof fields);
    out.write(key.data(), std::streamsize(key.size()));
    out.write(binary.data(), std::streamsize(binary.size()));
    out.flush();
    if (!out) {
      log_cache("could not write " + tmp);
      fs::remove(tmp, ec);
      return;
    }
  }
  // rename over a directory (or anything else planted at path) fails: the entry is not cached.
  fs::rename(tmp, path, ec);
  if (ec) {
    log_cache("could not rename " + tmp + ": " + ec.message());
    fs::remove(tmp, ec);
  }
  prune(dir_);
}

}  // namespace ember::codegen
