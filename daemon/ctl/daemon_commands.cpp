// policy-relayctl's commands that talk to the running daemon: build the request, print the
// answer for people (or as JSON with --json).
#include "daemon_commands.hpp"

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "admin_client.hpp"
#include "policy_relay/config/loader.hpp"

namespace json = boost::json;

namespace policy_relay::ctl {
namespace {

constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;

std::string text(const json::value& value) {
  if (value.is_string()) {
    return std::string(value.as_string());
  }
  return json::serialize(value);
}

std::int64_t number(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) {
    return 0;
  }
  if (value->is_int64()) {
    return value->as_int64();
  }
  return value->is_uint64() ? static_cast<std::int64_t>(value->as_uint64()) : 0;
}

std::string field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value == nullptr ? std::string() : text(*value);
}

std::string utc(std::int64_t seconds) {
  if (seconds <= 0) {
    return "-";
  }
  const std::time_t when = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&when, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buffer;
}

std::string duration(std::int64_t seconds) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%lldd %02lldh %02lldm %02llds",
                static_cast<long long>(seconds / 86400),
                static_cast<long long>(seconds / 3600 % 24),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return buffer;
}

std::string socket_of(const Globals& globals) {
  if (!globals.socket.empty()) {
    return globals.socket;
  }
  return config::load_file(globals.config).admin.socket;
}

void print_status(const json::object& r) {
  const json::object& minute = r.at("last_minute").as_object();
  std::printf("policy-relayd %s (config %s)\n", field(r, "version").c_str(),
              field(r, "config").c_str());
  std::printf("uptime        %s\n", duration(number(r, "uptime_s")).c_str());
  std::printf("connections   %lld\n", static_cast<long long>(number(r, "connections")));
  std::printf("queue         %lld (%lld held)\n", static_cast<long long>(number(r, "queue")),
              static_cast<long long>(number(r, "held")));
  std::printf("suspended     %lld senders\n", static_cast<long long>(number(r, "suspended")));
  std::printf("last minute   %lld accepted, %lld delivered, %lld refused, %lld bounced\n",
              static_cast<long long>(number(minute, "accepted")),
              static_cast<long long>(number(minute, "delivered")),
              static_cast<long long>(number(minute, "refused")),
              static_cast<long long>(number(minute, "bounced")));
  std::printf("reloads       %lld\n", static_cast<long long>(number(r, "reloads")));
}

void print_usage_of(const json::object& r) {
  std::printf("sender       %s%s\n", field(r, "sender").c_str(),
              r.at("suspended").as_bool() ? "  (SUSPENDED)" : "");
  std::printf("messages     %lld in the last minute of %lld allowed; %lld left; frees at %s\n",
              static_cast<long long>(number(r, "messages_last_minute")),
              static_cast<long long>(number(r, "messages_per_minute")),
              static_cast<long long>(number(r, "messages_remaining")),
              utc(number(r, "messages_frees_at")).c_str());
  std::printf("recipients   %lld in the last 24 h of %lld allowed; %lld left; frees at %s\n",
              static_cast<long long>(number(r, "recipients_last_24h")),
              static_cast<long long>(number(r, "recipients_per_day")),
              static_cast<long long>(number(r, "recipients_remaining")),
              utc(number(r, "recipients_frees_at")).c_str());
  std::printf("queued       %lld waiting for pacing\n",
              static_cast<long long>(number(r, "queued")));
  if (!field(r, "exception").empty()) {
    std::printf("exception    %s\n", field(r, "exception").c_str());
  }
}

void print_top(const json::object& r) {
  std::printf("%-40s %9s %11s\n", "SENDER (last hour)", "MESSAGES", "RECIPIENTS");
  for (const json::value& row : r.at("senders").as_array()) {
    const json::object& o = row.as_object();
    std::printf("%-40s %9lld %11lld%s\n", field(o, "sender").c_str(),
                static_cast<long long>(number(o, "messages")),
                static_cast<long long>(number(o, "recipients")),
                o.at("suspended").as_bool() ? "  suspended" : "");
  }
}

void print_queue(const json::object& r) {
  std::printf("%-18s %-9s %4s %8s %9s %5s  %s\n", "ID", "STATE", "TRY", "AGE", "SIZE", "RCPTS",
              "FROM");
  for (const json::value& row : r.at("messages").as_array()) {
    const json::object& o = row.as_object();
    std::string state = field(o, "state");
    if (o.contains("next_attempt_s")) {
      state += " " + std::to_string(number(o, "next_attempt_s")) + "s";
    }
    std::printf("%-18s %-9s %4lld %7llds %9lld %5lld  <%s>\n", field(o, "id").c_str(),
                state.c_str(), static_cast<long long>(number(o, "attempts")),
                static_cast<long long>(number(o, "age_s")),
                static_cast<long long>(number(o, "size")),
                static_cast<long long>(number(o, "rcpts")), field(o, "from").c_str());
  }
  std::printf("%lld message(s)%s\n", static_cast<long long>(number(r, "total")),
              r.at("truncated").as_bool() ? " (first 1000 shown)" : "");
}

void print_show(const json::object& r) {
  std::printf("id           %s\n", field(r, "id").c_str());
  std::printf("state        %s%s\n", field(r, "state").c_str(),
              r.at("held_by_operator").as_bool() ? " (held by the operator)" : "");
  std::printf("from         <%s>\n", field(r, "from").c_str());
  for (const json::value& rcpt : r.at("recipients").as_array()) {
    bool done = false;
    for (const json::value& d : r.at("done_recipients").as_array()) {
      done = done || d == rcpt;
    }
    std::printf("to           <%s>%s\n", text(rcpt).c_str(), done ? "  done" : "");
  }
  std::printf("size         %lld octets\n", static_cast<long long>(number(r, "size")));
  std::printf("received     %s from %s (HELO %s)%s\n", utc(number(r, "received_at")).c_str(),
              field(r, "client").c_str(), field(r, "helo").c_str(),
              field(r, "auth_user").empty() ? "" : (" as " + field(r, "auth_user")).c_str());
}

void print_result(const std::string& command, const json::object& r) {
  if (command == "status") {
    print_status(r);
  } else if (command == "usage") {
    print_usage_of(r);
  } else if (command == "top") {
    print_top(r);
  } else if (command == "queue.list") {
    print_queue(r);
  } else if (command == "queue.show") {
    print_show(r);
  } else if (command == "suspend") {
    const json::object& s = r.at("suspended").as_object();
    std::printf("%s %s (reason: %s)\n", field(s, "sender").c_str(),
                r.at("already").as_bool() ? "was already suspended" : "suspended",
                field(s, "reason").c_str());
  } else if (command == "resume") {
    std::printf("%s resumed; %lld held message(s) released\n", field(r, "sender").c_str(),
                static_cast<long long>(number(r, "released")));
  } else if (command == "suspensions") {
    for (const json::value& row : r.at("suspensions").as_array()) {
      const json::object& s = row.as_object();
      std::printf("%-40s since %s  %s: %s %s\n", field(s, "sender").c_str(),
                  utc(number(s, "since")).c_str(), field(s, "source").c_str(),
                  field(s, "reason").c_str(), field(s, "evidence").c_str());
    }
  } else if (command == "reload") {
    std::printf("reloaded %s\n", field(r, "config").c_str());
    for (const json::value& key : r.at("restart_required").as_array()) {
      std::printf("warning: %s changed; it takes effect at the next restart\n", text(key).c_str());
    }
  } else if (command == "queue.retry") {
    std::printf("%lld message(s) scheduled for delivery now\n",
                static_cast<long long>(number(r, "retried")));
  } else if (command == "queue.hold") {
    std::printf("%s held\n", field(r, "id").c_str());
  } else if (command == "queue.release") {
    std::printf("%s %s\n", field(r, "id").c_str(),
                r.at("released").as_bool() ? "released"
                : r.at("sender_suspended").as_bool()
                    ? "no longer held by the operator; its sender is suspended"
                    : "was not held");
  } else if (command == "queue.delete") {
    std::printf("%s deleted\n", field(r, "id").c_str());
  } else {
    std::printf("%s\n", json::serialize(r).c_str());
  }
}

// The request for `command` and its words; false when they do not fit.
bool build_request(const std::string& command, const std::vector<std::string>& words,
                   std::string& name, json::object& args) {
  name = command;
  if (command == "status" || command == "reload" || command == "suspensions") {
    return words.empty();
  }
  if (command == "top") {
    if (words.size() == 1) {
      args["limit"] = std::atoll(words[0].c_str());
    }
    return words.size() <= 1;
  }
  if (command == "usage" || command == "resume") {
    if (words.size() != 1) {
      return false;
    }
    args["sender"] = words[0];
    return true;
  }
  if (command == "suspend") {
    // suspend SENDER --reason TEXT
    if (words.size() != 3 || words[1] != "--reason") {
      return false;
    }
    args["sender"] = words[0];
    args["reason"] = words[2];
    return true;
  }
  if (command == "queue" && !words.empty()) {
    const std::string& sub = words[0];
    name = "queue." + sub;
    if (sub == "list") {
      return words.size() == 1;
    }
    if (sub == "retry") {
      if (words.size() == 2) {
        args["id"] = words[1];
      }
      return words.size() <= 2;
    }
    if (sub == "show" || sub == "hold" || sub == "release" || sub == "delete") {
      if (words.size() != 2) {
        return false;
      }
      args["id"] = words[1];
      return true;
    }
  }
  return false;
}

}  // namespace

int run_daemon_command(const Globals& globals, const std::string& command,
                       const std::vector<std::string>& words) {
  std::string name;
  json::object args;
  if (!build_request(command, words, name, args)) {
    std::fprintf(stderr, "policy-relayctl: wrong arguments for '%s' (see --help)\n",
                 command.c_str());
    return kUsage;
  }
  json::value response;
  try {
    response = ask_daemon(socket_of(globals), name, args);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "policy-relayctl: %s\n", error.what());
    return kFailed;
  }
  const json::object& object = response.as_object();
  const json::value* ok = object.if_contains("ok");
  if (ok == nullptr || !ok->is_bool() || !ok->as_bool()) {
    if (globals.json) {
      std::printf("%s\n", json::serialize(response).c_str());
    }
    std::fprintf(stderr, "policy-relayctl: %s: %s\n", name.c_str(), field(object, "error").c_str());
    return kFailed;
  }
  const json::value& result = object.at("result");
  if (globals.json) {
    std::printf("%s\n", json::serialize(result).c_str());
  } else {
    print_result(name, result.as_object());
  }
  return kOk;
}

}  // namespace policy_relay::ctl
