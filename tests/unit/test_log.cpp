#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "policy_relay/log/log.hpp"

namespace rlog = policy_relay::log;
namespace config = policy_relay::config;
namespace fs = std::filesystem;
using namespace std::string_view_literals;

namespace {

struct EscapeCase {
  std::string_view input;
  std::string_view expected;
};

// A fresh directory under the system temp dir, removed (with the log files) at scope exit.
// The logger is put back to its stderr default so that later tests log as usual.
class TempLog {
 public:
  TempLog() {
    std::string pattern = (fs::temp_directory_path() / "policy-relay-log-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
  }
  ~TempLog() {
    rlog::init(config::LogConfig{});
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path path(std::string_view name) const { return dir_ / name; }

  config::LogConfig config(config::LogFormat format, std::string level = "info") const {
    config::LogConfig c;
    c.file = path("relay.log").string();
    c.format = format;
    c.level = std::move(level);
    return c;
  }

 private:
  fs::path dir_;
};

// "2026-11-29T04:40:35.123Z" (std::regex trips a g++ 12 warning under the sanitizers).
bool is_timestamp(std::string_view text) {
  constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != shape.size()) {
    return false;
  }
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool ok = shape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == shape[i];
    if (!ok) {
      return false;
    }
  }
  return true;
}

// What the file holds now (nothing is flushed first).
std::vector<std::string> lines_on_disk(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> read_lines(const fs::path& path) {
  rlog::flush();
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST_CASE("kv values are bare when plain and quoted and escaped otherwise") {
  const EscapeCase cases[] = {
      {"plain", "plain"},
      {"a@b.example", "a@b.example"},
      {"", R"("")"},
      {"two words", R"("two words")"},
      {"say \"hi\"", R"("say \"hi\"")"},
      {"k=v", R"("k=v")"},
      {"back\\slash", R"("back\\slash")"},
      {"cr\rhere", R"("cr\x0dhere")"},
      {"lf\nhere", R"("lf\x0ahere")"},
      {"crlf\r\nevent=forged", R"("crlf\x0d\x0aevent=forged")"},
      {"nul\0byte"sv, R"("nul\x00byte")"},
      {"esc\x1b[31mred", R"("esc\x1b[31mred")"},
      {"tab\there", R"("tab\x09here")"},
      {"del\x7f", R"("del\x7f")"},
      {"bad\xff", R"("bad\xff")"},
      {"truncated\xc3", R"("truncated\xc3")"},
      {"overlong\xc0\xaf", R"("overlong\xc0\xaf")"},
      {"surrogate\xed\xa0\x80", R"("surrogate\xed\xa0\x80")"},
      {"above\xf4\x90\x80\x80", R"("above\xf4\x90\x80\x80")"},
      {"c1 \xc2\x85", R"("c1 \xc2\x85")"},
      {"Jos\xc3\xa9", "Jos\xc3\xa9"},
      {"\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"},
      {"emoji\xf0\x9f\x93\xa7", "emoji\xf0\x9f\x93\xa7"},
      {"Jos\xc3\xa9 P\xc3\xa9rez", "\"Jos\xc3\xa9 P\xc3\xa9rez\""},
  };
  for (const EscapeCase& c : cases) {
    CAPTURE(c.input);
    CHECK(rlog::escape_kv(c.input) == c.expected);
  }
}

TEST_CASE("json strings use RFC 8259 escapes and show invalid UTF-8 bytes as code points") {
  const EscapeCase cases[] = {
      {"plain text", "plain text"},
      {"", ""},
      {"say \"hi\"", R"(say \"hi\")"},
      {"back\\slash", R"(back\\slash)"},
      {"cr\rlf\n", R"(cr\rlf\n)"},
      {"tab\tbs\bff\f", R"(tab\tbs\bff\f)"},
      {"nul\0"sv, R"(nul\u0000)"},
      {"esc\x1b", R"(esc\u001b)"},
      {"del\x7f", R"(del\u007f)"},
      {"bad\xff", R"(bad\u00ff)"},
      {"truncated\xe2\x82", R"(truncated\u00e2\u0082)"},
      {"c1\xc2\x9b", R"(c1\u009b)"},
      {"ls\xe2\x80\xa8", R"(ls\u2028)"},
      {"Jos\xc3\xa9", "Jos\xc3\xa9"},
      {"emoji\xf0\x9f\x93\xa7", "emoji\xf0\x9f\x93\xa7"},
  };
  for (const EscapeCase& c : cases) {
    CAPTURE(c.input);
    CHECK(rlog::escape_json(c.input) == c.expected);
  }
}

TEST_CASE("a kv line has timestamp, level, event, then the fields in order") {
  TempLog temp;
  rlog::init(temp.config(config::LogFormat::kv));
  rlog::Event("accept")
      .add("id", "0a1b2c")
      .add("from", "a@b.example")
      .add("rcpts", 2)
      .add("size", std::uint64_t{123})
      .add("delta", std::int64_t{-4})
      .add("tls", false)
      .add("reply", "250 2.0.0 Ok\r\n");
  rlog::Event("weird key", rlog::Level::warn).add("bad key=", "x");
  const auto lines = read_lines(temp.path("relay.log"));
  REQUIRE(lines.size() == 2);
  CHECK(is_timestamp(std::string_view(lines[0]).substr(0, 24)));
  CHECK(lines[0].substr(24) ==
        R"( level=info event=accept id=0a1b2c from=a@b.example rcpts=2 size=123 delta=-4 )"
        R"(tls=false reply="250 2.0.0 Ok\x0d\x0a")");
  CHECK(lines[1].substr(24) == R"( level=warn event="weird key" bad_key_=x)");
}

TEST_CASE("a json line is one object with numbers as numbers and bools as bools") {
  TempLog temp;
  rlog::init(temp.config(config::LogFormat::json));
  rlog::Event("deliver")
      .add("id", "x1")
      .add("ms", 42)
      .add("big", std::uint64_t{18446744073709551615ull})
      .add("ok", true)
      .add("upstream_reply", "quote\" nl\n bad\xff");
  const auto lines = read_lines(temp.path("relay.log"));
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind(R"({"ts":")", 0) == 0);
  const boost::json::value parsed = boost::json::parse(lines[0]);
  const boost::json::object& object = parsed.as_object();
  CHECK(is_timestamp(object.at("ts").as_string()));
  CHECK(object.at("level").as_string() == "info");
  CHECK(object.at("event").as_string() == "deliver");
  CHECK(object.at("id").as_string() == "x1");
  CHECK(object.at("ms").as_int64() == 42);
  CHECK(object.at("big").as_uint64() == 18446744073709551615ull);
  CHECK(object.at("ok").as_bool() == true);
  CHECK(object.at("upstream_reply").as_string() == "quote\" nl\n bad\xc3\xbf");
  CHECK(lines[0].find(R"("ms":42,"big":18446744073709551615,"ok":true,)") != std::string::npos);
}

TEST_CASE("events below the configured level are not written") {
  TempLog temp;
  rlog::init(temp.config(config::LogFormat::kv, "warn"));
  CHECK_FALSE(rlog::enabled(rlog::Level::info));
  CHECK(rlog::enabled(rlog::Level::warn));
  CHECK(rlog::enabled(rlog::Level::error));
  rlog::Event("connect").add("from", "127.0.0.1");
  rlog::Event("debugging", rlog::Level::debug);
  rlog::Event("disk_low", rlog::Level::warn).add("free", 1);
  rlog::Event("spool_failed", rlog::Level::error);
  const auto lines = read_lines(temp.path("relay.log"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(" level=warn event=disk_low free=1") != std::string::npos);
  CHECK(lines[1].find(" level=error event=spool_failed") != std::string::npos);
}

TEST_CASE("with a flush scheduler info lines wait for the scheduled flush, warnings do not") {
  TempLog temp;
  rlog::init(temp.config(config::LogFormat::kv));
  const fs::path file = temp.path("relay.log");
  int scheduled = 0;
  rlog::set_flush_scheduler([&scheduled] { ++scheduled; });
  const struct Reset {
    ~Reset() { rlog::set_flush_scheduler({}); }
  } reset;

  rlog::Event("first");
  rlog::Event("second");
  CHECK(scheduled == 1);  // one flush for the batch
  CHECK(lines_on_disk(file).empty());
  rlog::flush();  // what the event loop runs
  CHECK(lines_on_disk(file).size() == 2);

  rlog::Event("third");
  CHECK(scheduled == 2);
  rlog::Event("disk_low", rlog::Level::warn);
  auto lines = lines_on_disk(file);
  REQUIRE(lines.size() == 4);  // the warning is written at once, the line before it too
  CHECK(lines[3].find("event=disk_low") != std::string::npos);

  rlog::Event("fourth");
  rlog::set_flush_scheduler({});  // the loop is gone: what it did not write is written now
  CHECK(lines_on_disk(file).size() == 5);
  rlog::Event("fifth");  // without a scheduler every line is written at once
  lines = lines_on_disk(file);
  REQUIRE(lines.size() == 6);
  CHECK(lines[5].find("event=fifth") != std::string::npos);
}

TEST_CASE("reopen writes to a new file after the old one was moved away") {
  TempLog temp;
  rlog::init(temp.config(config::LogFormat::kv));
  rlog::Event("before");
  rlog::flush();
  fs::rename(temp.path("relay.log"), temp.path("relay.log.old"));
  rlog::reopen();
  rlog::Event("after");
  const auto old_lines = read_lines(temp.path("relay.log.old"));
  const auto new_lines = read_lines(temp.path("relay.log"));
  REQUIRE(old_lines.size() == 1);
  REQUIRE(new_lines.size() == 1);
  CHECK(old_lines[0].find("event=before") != std::string::npos);
  CHECK(new_lines[0].find("event=after") != std::string::npos);
}

TEST_CASE("the log file rotates by size keeping max_files old files") {
  TempLog temp;
  config::LogConfig c = temp.config(config::LogFormat::kv);
  c.max_size = 1024;
  c.max_files = 2;
  rlog::init(c);
  for (int i = 0; i < 100; ++i) {
    rlog::Event("filler").add("n", i).add("pad", std::string(40, 'x'));
  }
  rlog::flush();
  CHECK(fs::file_size(temp.path("relay.log")) <= 1024);
  CHECK(fs::exists(temp.path("relay.1.log")));
  CHECK(fs::exists(temp.path("relay.2.log")));
  CHECK_FALSE(fs::exists(temp.path("relay.3.log")));
}

TEST_CASE("events from several threads arrive as whole lines") {
  TempLog temp;
  rlog::init(temp.config(config::LogFormat::kv));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) {
        rlog::Event("tick").add("thread", t).add("i", i).add("text", "a b c");
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const auto lines = read_lines(temp.path("relay.log"));
  CHECK(lines.size() == 800);
  std::set<std::string> expected;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 200; ++i) {
      expected.insert(" level=info event=tick thread=" + std::to_string(t) +
                      " i=" + std::to_string(i) + " text=\"a b c\"");
    }
  }
  std::set<std::string> seen;
  for (const std::string& line : lines) {
    CHECK(is_timestamp(std::string_view(line).substr(0, 24)));
    seen.insert(line.substr(24));
  }
  CHECK(seen == expected);
}

TEST_CASE("an unwritable log file is refused at init with its name") {
  config::LogConfig c;
  c.file = "/proc/policy-relay-cannot-exist/relay.log";
  CHECK_THROWS_WITH_AS(rlog::init(c),
                       doctest::Contains("log.file '/proc/policy-relay-cannot-exist"),
                       std::runtime_error);
}
