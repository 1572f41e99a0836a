// Logging: one line per decision, to stderr. Per-frame messages use debug().
#pragma once

#include <fmt/core.h>

#include <cstdarg>
#include <string>
#include <string_view>

namespace zc::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

void set_level(Level level);
Level level();
void set_prefix(std::string_view program);  // e.g. "zcpipe-compositor"
void write(Level level, std::string_view text);
// A printf-style message from a C library's log hook (libwayland's
// wl_log_set_handler_*), as one line without its trailing newlines.
std::string c_log_line(const char* format, va_list ap);

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::warn) write(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::info) write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (level() >= Level::debug) write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace zc::log
