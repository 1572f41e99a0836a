// zcpipe-copybench: read()+write(), mmap()+write(), sendfile(), splice() and
// vmsplice() moving one 4K frame's worth of bytes from a file into an
// AF_UNIX socket, counted and timed next to the zero-copy articles' claims.
// See copybench.h for who is measured, model.cpp for the theory.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "apps/cli_common.h"
#include "common/log.h"
#include "copybench/copybench.h"

int main(int argc, char** argv) {
  using namespace zc;
  log::set_prefix("zcpipe-copybench");
  CLI::App app{
      "zcpipe-copybench: move one 4K frame's worth of bytes from a file into an AF_UNIX socket with read+write, "
      "mmap+write, sendfile, splice and vmsplice; report syscalls, mode switches, scheduler context switches, "
      "/proc/self/io and time per transfer next to the zero-copy articles' claims and a model of this kernel"};
  apps::setup(app, "zcpipe-copybench");
  copybench::Options o;
  std::vector<std::string> names;
  std::string json_path;
  bool report = false;
  app.add_option("--bytes", o.bytes, "Bytes per transfer (suffixes K, M, KiB, MiB allowed; 1K = 1024)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32))
      ->capture_default_str();
  app.add_option("--chunk", o.chunk, "Bytes per call (read/write/sendfile/splice), at most 16 MiB")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(size_t{1}, size_t{16} << 20))
      ->capture_default_str();
  app.add_option("--repeats", o.repeats, "Measured transfers per technique (after one warm-up); medians are reported")
      ->check(CLI::Range(1u, 10000u))
      ->capture_default_str();
  app.add_option("--technique", names,
                 "Run only this technique (repeat the option for several): read-write | mmap-write | sendfile | splice | vmsplice")
      ->check(CLI::IsMember({"read-write", "mmap-write", "sendfile", "splice", "vmsplice"}));
  app.add_option("--dir", o.dir, "Directory for the (immediately unlinked) source file; default $TMPDIR or /tmp")
      ->check(CLI::ExistingDirectory);
  app.add_option("--json", json_path, "Also write the whole run as JSON to FILE; '-' writes it to stdout, and the table then goes to stderr");
  app.add_flag("--report", report, "Print a Markdown report (table + explanations) instead of the terminal table");
  apps::add_switch(app, "verify", o.verify, "The receiver compares every transfer with the file (outside the measuring windows)");
  apps::add_switch(app, "probe", o.probe, "Run the aliasing probe that checks whether a technique copies or shares pages");
  if (int st = apps::parse(app, argc, argv, [&] { apps::check_output_path("--json", json_path); }); st >= 0) return st;
  if (!names.empty()) {
    o.techniques.clear();
    for (const auto& n : names) {
      const auto t = copybench::technique_from_name(n);
      if (std::find(o.techniques.begin(), o.techniques.end(), *t) == o.techniques.end()) o.techniques.push_back(*t);
    }
  }

  // Open the JSON file first: a typo in its path should not cost a whole run.
  std::ofstream json_file;
  const bool json_to_stdout = json_path == "-";
  if (!json_path.empty() && !json_to_stdout) {
    json_file.open(json_path);
    if (!json_file) {
      log::error("cannot write {} (--json)", json_path);
      return 1;
    }
  }
  auto doc = copybench::run(o);
  if (!doc) {
    if (json_file.is_open()) {
      json_file.close();
      std::remove(json_path.c_str());  // no half-written or empty result
    }
    log::error("{}", doc.error().message());
    return 1;
  }
  (json_to_stdout ? std::cerr : std::cout) << (report ? copybench::format_report(*doc) : copybench::format_table(*doc)) << std::flush;
  if (json_to_stdout) std::cout << doc->dump(1) << '\n' << std::flush;
  if (json_file.is_open()) {
    json_file << doc->dump(1) << '\n';
    json_file.flush();
    if (!json_file) {
      log::error("cannot write {}", json_path);
      return 1;
    }
  }
  return 0;
}
