#pragma once
/// A recording of a run: every message `sightline run --record FILE` published, in order, in one file that
/// `sightline eval --dt FILE` reads back and any msgpack library can read (docs/wire.md, "Recordings").
/// Format `sightline.record/1`: a msgpack map (the header), then one msgpack array [topic, body] per message,
/// `body` being the message's wire body as a msgpack bin.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sightline/transport/messages.hpp"

namespace sightline::transport {

inline constexpr const char* kRecordingSchema = "sightline.record/1";

struct RecordingHeader {
    std::string model;                ///< name@version
    std::vector<std::string> classes; ///< the model's class names: PredMessage::classes index into it
    std::vector<std::string> cameras; ///< camera ids, config order
    std::int64_t created_ns = 0;      ///< wall clock, ns since the epoch
    /// The run's operating threshold (detections at or below it were not published; additive, 0.9); -1: unknown
    /// (an older recording).
    double threshold = -1;
    /// A line running several model versions (docs/versions.md): each version's class names by name@version, the
    /// serving and the shadow ones (their pred messages' classes index their own list; additive, 0.11). Empty: one
    /// version, `model`.
    std::map<std::string, std::vector<std::string>> versions;
};

/// Appends messages to a recording ("-": standard output). Writes are buffered and reach the file at flush() (the
/// run calls it every second) and on close. Every failure (cannot create, a full disk) throws Error(kIo) naming the
/// file. The file is held under an exclusive lock (flock) and emptied only once locked: a second writer of a file
/// being written is refused (Error(kIo)) and cuts nothing.
class RecordingWriter {
  public:
    RecordingWriter(const std::filesystem::path& path, const RecordingHeader& header);
    ~RecordingWriter();
    RecordingWriter(const RecordingWriter&) = delete;
    RecordingWriter& operator=(const RecordingWriter&) = delete;
    void write(const Message& m);
    void write(const EncodedMessage& m); ///< the bytes as they are (the same ones the line publishes)
    void flush();
    void close(); ///< flushes and closes; throws like flush
    std::uint64_t written() const { return written_; }
    const std::filesystem::path& path() const { return path_; }
    /// false where the file system cannot lock the file (some FUSE and network mounts): written unguarded.
    bool guarded() const { return guarded_; }

  private:
    void put(const std::string& bytes);
    std::filesystem::path path_;
    std::FILE* file_ = nullptr;
    std::uint64_t written_ = 0;
    bool guarded_ = true;
};

/// Reads a recording message by message. A missing file is Error(kNotFound); a file that is not a recording, a
/// header that fails the wire's checks (checks.hpp), or a damaged record, Error(kBadInput) naming the file and the
/// record. Every record is checked as a message off the wire is (decode()), and a pred's class indices against the
/// header's class list. After a record is refused the reader stands past it, so a sink may count it and read on
/// (the msgpack stream itself broken ends the reading). A last record cut short (a run killed while writing) ends
/// the reading and sets truncated().
class RecordingReader {
  public:
    explicit RecordingReader(const std::filesystem::path& path);
    ~RecordingReader();
    const RecordingHeader& header() const { return header_; }
    /// The next message; false at the end.
    bool next(std::string& topic, Message& message);
    bool truncated() const { return truncated_; }
    std::uint64_t records() const { return records_; } ///< records read so far, refused ones included

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    RecordingHeader header_;
    bool truncated_ = false;
    std::uint64_t records_ = 0;
};

/// Whether the file starts like a recording (a msgpack map) rather than JSON.
bool is_recording(const std::filesystem::path& path);

} // namespace sightline::transport
