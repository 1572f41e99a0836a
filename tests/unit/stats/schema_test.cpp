// The JSON schema (docs/zcpipe.schema.json), its documentation
// (docs/json.md) and the ledger's record struct cannot drift apart: the
// schema's frame record has exactly the keys the ledger writes, and every key
// the schema names is documented. (That the programs' real output obeys the
// schema is tests/schema/validate.py's job.)
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "stats/ledger_json.h"

namespace zc::stats {
namespace {

using nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f) << "cannot read " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

json schema() { return json::parse(slurp(std::string(ZCPIPE_SOURCE_ROOT) + "/docs/zcpipe.schema.json")); }

// Every property name anywhere in the schema.
void collect(const json& j, std::set<std::string>& out) {
  if (j.is_object()) {
    if (j.contains("properties") && j["properties"].is_object())
      for (const auto& [k, v] : j["properties"].items()) out.insert(k);
    for (const auto& [k, v] : j.items()) collect(v, out);
  } else if (j.is_array()) {
    for (const auto& v : j) collect(v, out);
  }
}

TEST(Schema, FrameRecordHasExactlyTheKeysTheLedgerWrites) {
  const json s = schema();
  std::set<std::string> in_schema;
  for (const auto& [k, v] : s.at("$defs").at("frame_record").at("properties").items()) in_schema.insert(k);
  const std::set<std::string> written(record_keys().begin(), record_keys().end());
  EXPECT_EQ(in_schema, written);
  // And every key the schema requires is one the ledger always writes.
  for (const auto& k : s.at("$defs").at("frame_record").at("required")) EXPECT_TRUE(written.count(k.get<std::string>())) << k;
}

TEST(Schema, EveryKeyTheSchemaNamesIsDocumented) {
  const std::string doc = slurp(std::string(ZCPIPE_SOURCE_ROOT) + "/docs/json.md");
  std::set<std::string> keys;
  collect(schema(), keys);
  ASSERT_GT(keys.size(), 100u);
  for (const std::string& k : keys) {
    const std::regex word("(^|[^A-Za-z0-9_])" + k + "([^A-Za-z0-9_]|$)");
    EXPECT_TRUE(std::regex_search(doc, word)) << "docs/json.md does not mention \"" << k << "\"";
  }
}

TEST(Schema, TheDocsNameEveryRunKeyTheSchemaRequires) {
  // The ones a reader looks for first, named in the issue that asked for this.
  const json run = schema().at("$defs").at("run");
  std::set<std::string> required;
  for (const auto& k : run.at("required")) required.insert(k.get<std::string>());
  for (const char* k : {"ledger", "verify", "checks", "frames_scanout_copy", "measuring"}) EXPECT_TRUE(required.count(k)) << k;
}

}  // namespace
}  // namespace zc::stats
