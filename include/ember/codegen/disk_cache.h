// The disk cache of compiled kernels, shared by every backend: one file per kernel binary (object
// code now, cubins next), named <backend>-<hash of key>.<extension> and holding the full key, so
// a hash collision is a miss and never a wrong kernel. Entries are written atomically (temporary
// file, then rename) with a checksum; an entry that fails any check (not a regular file, too
// large, truncated, wrong magic, lengths or checksum) is ignored and rewritten, never trusted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ember::codegen {

// Where compiled kernels are kept besides memory. EMBER_LOG=cache reports hits, misses and
// rejected entries. The directory is kept under $EMBER_CACHE_MAX_MB (default 1024) by evicting
// the least recently used entries.
struct KernelCacheOptions {
  bool disk = true;
  std::string dir;     // empty: $EMBER_CACHE_DIR, else ~/.cache/ember
  bool tiered = true;  // compile_tiered: a quick first tier while the optimized one compiles
};

class DiskCache {
 public:
  // backend and extension name the files ("cpu", "o"); disabled when options.disk is off or no
  // directory can be found.
  DiskCache(std::string backend, std::string extension, const KernelCacheOptions& options);

  bool enabled() const { return !dir_.empty(); }
  const std::string& directory() const { return dir_; }
  // The file that holds key's binary ("" when disabled).
  std::string path_of(const std::string& key) const;
  // Whether a file exists for key (not yet checked).
  bool contains(const std::string& key) const;
  // The binary stored for key, or nullopt (missing, or rejected and logged). A hit marks the
  // entry as recently used.
  std::optional<std::string> load(const std::string& key) const;
  // Writes key's binary, then keeps the directory under its size limit. A failure to write is
  // logged and leaves no partial entry.
  void store(const std::string& key, const std::string& binary) const;

 private:
  std::string backend_, extension_, dir_;
};

// The binary of an entry file's bytes when they are a valid entry for key, else nullopt with
// why (what DiskCache::load checks after reading a regular file of bounded size).
std::optional<std::string> parse_cache_entry(const std::string& bytes, const std::string& key,
                                             std::string& why);

// 16 lowercase hex digits.
std::string hex64(uint64_t v);

}  // namespace ember::codegen
