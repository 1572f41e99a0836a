// Small pieces shared by the zcpipe command-line programs, so that every one
// of them follows the conventions people already know from Unix tools:
//
//   PROGRAM --version          "PROGRAM VERSION" on stdout, exit status 0
//   PROGRAM --help             usage with the true defaults, exit status 0
//   a usage error              ONE line "PROGRAM: error: ..." on stderr, exit status 2
//   -D, --device PATH          the DRM node, spelled as kmscube and modetest do
//   --json -                   "-" is standard output
//   output files               checked writable before the run, not after it
//
// CLI11 alone exits 105/109 with two lines and no program name; parse()
// below is the one place that turns its exceptions into the convention.
#pragma once

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <system_error>

#include "common/format.h"

#ifndef ZCPIPE_VERSION
#error "ZCPIPE_VERSION must be defined by the build (meson.project_version())"
#endif

namespace zc::apps {

// Exit status of a usage error (wrong option or value), as getopt-based tools use.
inline constexpr int kUsageError = 2;

// Names the program (for --help and error lines) and adds --version.
inline void setup(CLI::App& app, const char* program) {
  app.name(program);
  app.set_version_flag("--version", std::string(program) + " " ZCPIPE_VERSION, "Print the program's name and version, then exit");
  // The defaults shown by --help are the variables' values at this point:
  // each option sets capture_default_str() itself.
}

// Parses the command line, then runs `checks` (cross-option rules; they throw
// CLI::ValidationError). Returns -1 to go on, or the exit status to return
// at once: 0 after --help/--version, kUsageError after a usage error.
inline int parse(CLI::App& app, int argc, char** argv, const std::function<void()>& checks = {}) {
  try {
    app.parse(argc, argv);
    if (checks) checks();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << '\n';
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';  // one line, whatever CLI11 says
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", app.get_name().c_str(), what.c_str(), app.get_name().c_str());
    return kUsageError;
  }
  return -1;
}

// --NAME and --no-NAME for a setting with a default of either. (CLI11's own
// "--NAME,!--no-NAME" prints the negated flag's value, {false}, in --help
// even when the setting is on.) If both are given, --no-NAME wins.
inline void add_switch(CLI::App& app, const std::string& name, bool& value, const std::string& what) {
  app.add_flag_callback("--" + name, [&value] { value = true; }, what + (value ? " (default: on)" : " (default: off)"));
  app.add_flag_callback("--no-" + name, [&value] { value = false; }, "The opposite of --" + name);
}

// "3840x2160" -> (3840, 2160); throws CLI::ValidationError on bad input.
inline void parse_size(const std::string& s, uint32_t& w, uint32_t& h) {
  unsigned long a = 0, b = 0;
  char x = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%lu%c%lu%c", &a, &x, &b, &extra) != 3 || (x != 'x' && x != 'X') || a == 0 ||
      b == 0 || a > 16384 || b > 16384)
    throw CLI::ValidationError("--size", "expected WIDTHxHEIGHT (1..16384 each), got '" + s + "'");
  w = static_cast<uint32_t>(a);
  h = static_cast<uint32_t>(b);
}

inline uint32_t parse_format(const std::string& s) {
  auto f = format_from_name(s);
  if (!f) throw CLI::ValidationError("--format", "unknown format '" + s + "' (XRGB8888, ARGB8888, XBGR8888, ABGR8888, RGB888)");
  return *f;
}

// --frames must leave at least one measured frame after --warmup: with none,
// every summary is empty and every check passes vacuously.
inline void check_frames_after_warmup(uint64_t frames, uint64_t warmup) {
  if (frames <= warmup)
    throw CLI::ValidationError("--frames", "must be greater than --warmup (" + std::to_string(frames) +
                                               " frames, " + std::to_string(warmup) + " of them warm-up: none left to measure)");
}

// Refuses an output path that cannot be written, before a run of minutes
// rather than after it. "-" (standard output) is always fine. Nothing is
// created or truncated here. `is_dir`: the path is a directory the program
// creates (with its parents) and fills, like --report DIR.
inline void check_output_path(const std::string& option, const std::string& path, bool is_dir = false) {
  namespace fs = std::filesystem;
  if (path.empty() || (!is_dir && path == "-")) return;
  std::error_code ec;
  const fs::path p = fs::absolute(path, ec);
  auto fail = [&](const std::string& why) { throw CLI::ValidationError(option, "cannot write '" + path + "': " + why); };
  const auto st = fs::status(p, ec);
  if (fs::exists(st)) {
    if (is_dir && !fs::is_directory(st)) fail("exists and is not a directory");
    if (!is_dir && fs::is_directory(st)) fail("is a directory");
    if (::access(p.c_str(), W_OK) != 0) fail(std::strerror(errno));
    return;
  }
  // A file is created in its directory, which must exist; a directory is
  // created with its parents, so the nearest existing ancestor decides.
  fs::path dir = p.parent_path();
  if (is_dir)
    while (!dir.empty() && dir != dir.root_path() && !fs::exists(dir, ec)) dir = dir.parent_path();
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) fail(dir.string() + " is not a directory");
  if (!fs::is_directory(dir, ec)) fail("directory " + dir.string() + " does not exist");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) fail("directory " + dir.string() + ": " + std::strerror(errno));
}

}  // namespace zc::apps
