// Logging by topic, switched on by EMBER_LOG (a comma-separated list, e.g.
// EMBER_LOG=passes,fusion; "all" enables every topic). Messages go to stderr.
#pragma once

#include <string_view>

namespace ember {

// True when EMBER_LOG names the topic (read once, on first use).
bool log_enabled(std::string_view topic);
// Writes "[ember:topic] message" (and a newline) to stderr.
void log_message(std::string_view topic, std::string_view message);

}  // namespace ember
