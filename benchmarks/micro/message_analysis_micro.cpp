// The cost of the message analysis (issue 5): mime::MessageScanner over a message as the spool
// holds it, fed in 64 KiB pieces like MessageWriter::read_back, plus the message rules.
//   analysis_plain_5k       a typical 5 KiB text/plain message with 3 To addresses
//   analysis_multipart      the Outlook corpus message (mixed > related > alternative, inline
//                           image, PDF; 34 KiB, 7 addresses with encoded words)
//   analysis_attachment/N   a base64 attachment of N KiB (per-octet cost of streaming bodies)
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>

#include "policy_relay/mime/message_scanner.hpp"

using policy_relay::mime::MessageAnalysis;
using policy_relay::mime::MessageScanner;

namespace {

std::string crlf(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += '\r';
    }
    out += c;
  }
  return out;
}

std::string plain_5k() {
  std::string message =
      "Received: from client.test ([10.0.0.7])\n\tby relay.edomex.gob.mx (policy-relay) with "
      "ESMTP id 018F2A3B4C5D6\n\tfor <ana@edomex.gob.mx>; Mon, 30 Nov 2026 10:15:02 -0600\n"
      "From: Jose Martinez <jose.martinez@edomex.gob.mx>\n"
      "To: Ana Perez <ana.perez@edomex.gob.mx>, carlos.ruiz@edomex.gob.mx,\n"
      " \"Lopez, Maria\" <maria.lopez@edomex.gob.mx>\n"
      "Subject: Minuta de la reunion\nDate: Mon, 30 Nov 2026 10:15:01 -0600\n"
      "Message-ID: <minuta.1@edomex.gob.mx>\nMIME-Version: 1.0\n"
      "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n";
  while (message.size() < 5 * 1024) {
    message += "Se acordo revisar el presupuesto y enviar los comentarios el jueves.\n";
  }
  return crlf(message);
}

std::string corpus(const char* name) {
  std::ifstream file(std::string(POLICY_RELAY_SOURCE_DIR) + "/tests/corpus/" + name,
                     std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return crlf(text.str());
}

std::string with_attachment(std::size_t kib) {
  std::string message =
      "From: a@edomex.gob.mx\nTo: b@edomex.gob.mx\nMIME-Version: 1.0\n"
      "Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhi\n"
      "--b\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=x.pdf\n"
      "Content-Transfer-Encoding: base64\n\n";
  const std::string line(76, 'Q');
  for (std::size_t octets = 0; octets < kib * 1024; octets += 57) {
    message += line + "\n";
  }
  message += "--b--\n";
  return crlf(message);
}

MessageAnalysis scan(const std::string& message) {
  MessageScanner scanner;
  for (std::size_t at = 0; at < message.size(); at += 64 * 1024) {
    scanner.feed(std::string_view(message).substr(at, 64 * 1024));
  }
  return scanner.finish();
}

void run(benchmark::State& state, const std::string& message) {
  for (auto _ : state) {
    MessageAnalysis analysis = scan(message);
    benchmark::DoNotOptimize(analysis.visible_recipient_count());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * message.size()));
  state.counters["octets"] = static_cast<double>(message.size());
}

void analysis_plain_5k(benchmark::State& state) {
  run(state, plain_5k());
}
BENCHMARK(analysis_plain_5k);

void analysis_multipart(benchmark::State& state) {
  run(state, corpus("outlook_mixed_related.eml"));
}
BENCHMARK(analysis_multipart);

void analysis_attachment(benchmark::State& state) {
  run(state, with_attachment(static_cast<std::size_t>(state.range(0))));
}
BENCHMARK(analysis_attachment)->Arg(1024)->Arg(25 * 1024)->Unit(benchmark::kMillisecond);

}  // namespace
