#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace policy_relay::smtp {

// Whether a message that reached its end "<CRLF>.<CRLF>" is whole (ServerProtocol::DataOutcome).
enum class DataOutcome {
  ok,
  too_big,           // more than max_message_size octets: 552 5.3.4
  bare_line_ending,  // a bare CR or LF inside the message: 554 5.6.0
  line_too_long,     // a text line over max_text_line: 500 5.5.2
};

// Reads the message text that follows a 354 reply (RFC 5321 4.1.1.4) as a sans-I/O stream.
//
// Contract:
// - Only <CRLF>.<CRLF> ends the text (the first CRLF may be the one ending the DATA command).
//   A bare CR or LF never ends a line, so "\n.\n", "\n.\r\n", "\r.\r", "\r\n.\n" and a ".\r\n"
//   not at a line start are message text (SMTP smuggling); they make the outcome
//   bare_line_ending (RFC 5321 2.3.8).
// - A line starting with "." loses that dot (RFC 5321 4.5.2).
// - Chunks carry unstuffed octets with CRLF line ends, at most chunk_size each. Complete lines
//   are handed out as soon as the input runs dry; a trailing partial line stays until more
//   input arrives. Once the outcome is not ok nothing more is stored or handed out, but the
//   text is still read to its end, so memory stays bounded by chunk_size + max_text_line
//   whatever the peer sends (RFC 5321 4.5.3.1.6: text lines over max_text_line end storing).
class DataReader {
 public:
  struct Limits {
    std::uint64_t max_message_size = 0;  // unstuffed octets, CRLFs included
    std::size_t max_text_line = 1000;    // CRLF included, the stuffed dot not
    std::size_t chunk_size = 64 * 1024;
  };
  enum class Event {
    need_input,  // all input consumed
    chunk,       // chunk() holds octets to store
    end,         // the end of the text was consumed; outcome() says whether the message is whole
  };
  struct Step {
    std::size_t consumed = 0;  // octets of the input that were used
    Event event = Event::need_input;
  };

  explicit DataReader(Limits limits) : limits_(limits) {}

  // Begins a new message (after the 354 reply).
  void start();
  // Changes the size limit for the messages started from now on.
  void set_max_message_size(std::uint64_t octets) { limits_.max_message_size = octets; }
  // Consumes octets from `input` up to the next event. After `end` it consumes nothing more.
  Step consume(std::string_view input);

  // The chunk of the last `chunk` event: valid until the next consume() or start().
  std::string_view chunk() const { return std::string_view(chunk_).substr(0, emitted_); }
  DataOutcome outcome() const { return outcome_; }
  std::uint64_t message_size() const { return message_size_; }
  // Octets held back: the unreturned part of the current chunk and a partial line.
  std::size_t buffered_octets() const { return chunk_.size(); }

 private:
  enum class Position { line_start, after_dot, after_dot_cr, in_line, after_cr, finished };

  Step emit(std::size_t length, std::size_t consumed);
  void append_text(std::string_view octets);
  void append_line_end();
  void flag(DataOutcome outcome);

  Limits limits_;
  Position position_ = Position::line_start;
  DataOutcome outcome_ = DataOutcome::ok;
  std::string chunk_;               // stored octets not yet handed out (emitted_ first)
  std::size_t emitted_ = 0;         // chunk_ prefix handed out by the last chunk event
  std::size_t complete_lines_ = 0;  // chunk_ prefix that ends with a CRLF
  std::size_t line_length_ = 0;     // unstuffed octets of the current line, CRLF excluded
  std::uint64_t message_size_ = 0;
};

}  // namespace policy_relay::smtp
