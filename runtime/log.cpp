#include "ember/runtime/log.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ember {
namespace {

const std::vector<std::string>& topics() {
  static const std::vector<std::string> list = [] {
    std::vector<std::string> out;
    const char* env = std::getenv("EMBER_LOG");
    std::string s = env ? env : "";
    size_t start = 0;
    while (start <= s.size()) {
      const size_t end = std::min(s.find(',', start), s.size());
      if (end > start) out.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }();
  return list;
}

}  // namespace

bool log_enabled(std::string_view topic) {
  for (const std::string& t : topics())
    if (t == topic || t == "all") return true;
  return false;
}

void log_message(std::string_view topic, std::string_view message) {
  std::fprintf(stderr, "[ember:%.*s] %.*s\n", int(topic.size()), topic.data(), int(message.size()),
               message.data());
}

}  // namespace ember
