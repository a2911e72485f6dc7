#include "sightline/pipeline/files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>

#include "sightline/error.hpp"

namespace sightline::pipeline {

namespace {

/// Writes to a path that must not be replaced (a device, a FIFO): opened for writing as it is.
void write_in_place(const std::filesystem::path& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw Error(ErrorCode::kIo, path.string() + ": cannot open for writing: " + std::strerror(errno));
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) throw Error(ErrorCode::kIo, path.string() + ": write failed: " + std::strerror(errno));
}

} // namespace

void write_output(const std::filesystem::path& path, const std::string& text) {
    if (is_stdout(path)) {
        if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
            throw Error(ErrorCode::kIo, std::string("standard output: write failed: ") + std::strerror(errno));
        return;
    }
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec); // follows symlinks
    if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
        if (std::filesystem::is_directory(st)) throw Error(ErrorCode::kIo, path.string() + ": is a directory");
        return write_in_place(path, text); // /dev/stdout, a FIFO, a terminal: never renamed over
    }
    // a symlink to a regular file: replace its target, keep the link
    const std::filesystem::path target = std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec))
                                             ? std::filesystem::canonical(path)
                                             : path;
    auto tmp = target;
    tmp += ".partial";
    {
        std::ofstream f(tmp, std::ios::binary);
        if (!f) throw Error(ErrorCode::kIo, tmp.string() + ": cannot open for writing");
        f.write(text.data(), static_cast<std::streamsize>(text.size()));
        f.flush();
        if (!f) {
            f.close();
            std::filesystem::remove(tmp);
            throw Error(ErrorCode::kIo, tmp.string() + ": write failed (disk full?)");
        }
    }
    std::filesystem::rename(tmp, target, ec);
    if (ec) throw Error(ErrorCode::kIo, target.string() + ": cannot rename into place: " + ec.message());
}

namespace {

[[noreturn]] void io_error(const std::filesystem::path& path, const char* what, int err) {
    throw Error(ErrorCode::kIo, path.string() + ": " + what + ": " + std::strerror(err));
}

} // namespace

void write_durable(const std::filesystem::path& path, std::string_view bytes) {
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
    std::string name = ".";
    name += path.filename().string();
    name += ".partial";
    const std::filesystem::path tmp = dir / name;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) io_error(tmp, "cannot create", errno);
    const auto fail = [&](const char* what) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        io_error(tmp, what, err);
    };
    for (std::size_t done = 0; done < bytes.size();) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fail("write failed");
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) fail("fsync failed");
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        io_error(tmp, "close failed", err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        io_error(path, "cannot rename into place", err);
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) io_error(dir, "cannot open the folder to sync it", errno);
    const bool synced = ::fsync(dfd) == 0;
    const int err = errno;
    ::close(dfd);
    if (!synced) io_error(dir, "fsync of the folder failed", err);
}

LockFile::LockFile(const std::filesystem::path& path, const std::string& busy) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorCode::kIo, path.string() + ": cannot open: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd_);
        throw Error(ErrorCode::kIo, busy);
    }
}

LockFile::~LockFile() {
    if (fd_ >= 0) ::close(fd_); // releases the lock
}

} // namespace sightline::pipeline
