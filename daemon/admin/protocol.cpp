#include "policy_relay/admin/protocol.hpp"

#include <boost/json.hpp>
#include <exception>

namespace json = boost::json;

namespace policy_relay::admin {

std::optional<Request> parse_request(std::string_view line, std::string& error) {
  if (line.size() > kMaxRequestSize) {
    error = "request larger than " + std::to_string(kMaxRequestSize) + " octets";
    return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 8;  // requests are flat: a deep document is an attack or a mistake
  json::value parsed = json::parse(line, ec, {}, options);
  if (ec) {
    error = "malformed JSON: " + ec.message();
    return std::nullopt;
  }
  if (!parsed.is_object()) {
    error = "a request is a JSON object";
    return std::nullopt;
  }
  json::object& object = parsed.as_object();
  const json::value* command = object.if_contains("command");
  if (command == nullptr || !command->is_string() || command->as_string().empty()) {
    error = "\"command\" (a non-empty string) is required";
    return std::nullopt;
  }
  Request request;
  request.command = std::string(command->as_string());
  if (json::value* args = object.if_contains("args")) {
    if (!args->is_object()) {
      error = "\"args\" must be an object";
      return std::nullopt;
    }
    request.args = std::move(args->as_object());
  }
  for (const auto& member : object) {
    if (member.key() != "command" && member.key() != "args") {
      error = "unknown member \"" + std::string(member.key()) + "\"";
      return std::nullopt;
    }
  }
  return request;
}

std::string ok_response(const json::value& result) {
  json::object response{{"ok", true}, {"result", result}};
  return json::serialize(response) + "\n";
}

std::string error_response(std::string_view error) {
  json::object response{{"ok", false}, {"error", error}};
  return json::serialize(response) + "\n";
}

std::optional<std::string> string_arg(const json::object& args, std::string_view name) {
  const json::value* value = args.if_contains(name);
  if (value == nullptr || !value->is_string()) {
    return std::nullopt;
  }
  return std::string(value->as_string());
}

void Dispatcher::add(std::string command, Handler handler) {
  handlers_.insert_or_assign(std::move(command), std::move(handler));
}

std::vector<std::string> Dispatcher::commands() const {
  std::vector<std::string> names;
  for (const auto& [name, handler] : handlers_) {
    names.push_back(name);
  }
  return names;
}

boost::asio::awaitable<std::string> Dispatcher::handle(std::string_view line) const {
  std::string error;
  std::optional<Request> request = parse_request(line, error);
  if (!request) {
    co_return error_response(error);
  }
  const auto handler = handlers_.find(request->command);
  if (handler == handlers_.end()) {
    co_return error_response("unknown command \"" + request->command + "\"");
  }
  Reply reply;
  try {
    reply = co_await handler->second(request->args);
  } catch (const std::exception& e) {
    reply = Reply::failure(std::string("internal error: ") + e.what());
  }
  if (!reply.ok) {
    co_return error_response(reply.error);
  }
  co_return ok_response(reply.result);
}

}  // namespace policy_relay::admin
