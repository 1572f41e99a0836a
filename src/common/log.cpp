#include "common/log.h"

#include <cstdio>
#include <string>

namespace zc::log {
namespace {
Level g_level = Level::info;
std::string g_prefix = "zcpipe";
}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }
void set_prefix(std::string_view program) { g_prefix = std::string(program); }

void write(Level l, std::string_view text) {
  static constexpr const char* kTag[] = {"error: ", "warning: ", "", "debug: "};
  std::fprintf(stderr, "%s: %s%.*s\n", g_prefix.c_str(), kTag[static_cast<int>(l)],
               static_cast<int>(text.size()), text.data());
}

std::string c_log_line(const char* format, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, format, ap);
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

}  // namespace zc::log
