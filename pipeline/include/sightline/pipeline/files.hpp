#pragma once
/// Writing output files so that a reader never sees half of one.
#include <filesystem>
#include <string>
#include <string_view>

namespace sightline::pipeline {

/// Writes `text` where an output option points: "-" is standard output; an existing device, FIFO or socket (or a
/// symlink to one: /dev/stdout) is written in place, never replaced; a regular file (or a symlink to one: its target)
/// is written to `path` + ".partial" and renamed into place. Throws Error(kIo) naming the file when it cannot be
/// opened, written (disk full) or renamed; a failed write leaves no partial file behind.
void write_output(const std::filesystem::path& path, const std::string& text);

/// Writes `bytes` to `path` durably and atomically: a temporary file beside it (`.<name>.partial`), fsync, rename
/// into place, fsync of the folder. After it returns the file survives a crash or power loss whole; before, a
/// reader sees the old file or none. Throws Error(kIo) naming the file (disk full, read-only, no permission) and
/// leaves no temporary file behind.
void write_durable(const std::filesystem::path& path, std::string_view bytes);

/// An exclusive lock on a lock file beside what it guards (flock on `path`, created if missing), held while this
/// lives and released when it is destroyed or the process dies (kill -9 included): one writer at a time. Throws
/// Error(kIo) with `busy` as the message when another holder has it, naming `path` when it cannot be opened.
class LockFile {
  public:
    LockFile(const std::filesystem::path& path, const std::string& busy);
    ~LockFile();
    LockFile(const LockFile&) = delete;
    LockFile& operator=(const LockFile&) = delete;

  private:
    int fd_ = -1;
};

/// Whether `path` names standard output ("-").
inline bool is_stdout(const std::filesystem::path& path) {
    return path == "-";
}

} // namespace sightline::pipeline
