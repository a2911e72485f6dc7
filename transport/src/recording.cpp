// Recordings of runs (sightline.record/1): a msgpack header map, then [topic, body] arrays.
#include "sightline/transport/recording.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <msgpack.hpp>

#include "sightline/error.hpp"
#include "sightline/transport/checks.hpp"
#include "unpack_limits.hpp"

namespace sightline::transport {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void pack_string(Packer& p, std::string_view s) {
    p.pack_str(static_cast<std::uint32_t>(s.size())).pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

[[noreturn]] void io_error(const std::filesystem::path& path, const std::string& what) {
    throw Error(ErrorCode::kIo, path.string() + ": " + what + ": " + std::strerror(errno));
}

/// Opens a recording for writing under an exclusive lock, and only then empties it: a second run recording to the
/// same file is refused before it can cut the first one's (flock: released when the file closes, or the process dies).
std::FILE* open_locked(const std::filesystem::path& path, bool& guarded) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) io_error(path, "cannot create the recording");
    const auto fail = [&](const std::string& what) {
        const int err = errno;
        ::close(fd);
        errno = err;
        io_error(path, what);
    };
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            ::close(fd);
            throw Error(ErrorCode::kIo, path.string() + ": another process is writing this recording (it holds the "
                                                        "file's lock): record to another file, or stop that run");
        }
        if (errno != ENOLCK && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
            fail("cannot lock the recording");
        guarded = false; // a file system without flock (some FUSE and network mounts): written unguarded
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("cannot stat the recording");
    if (S_ISREG(st.st_mode) && ::ftruncate(fd, 0) != 0) fail("cannot empty the recording");
    std::FILE* f = ::fdopen(fd, "wb");
    if (!f) fail("cannot open the recording");
    return f;
}

} // namespace

RecordingWriter::RecordingWriter(const std::filesystem::path& path, const RecordingHeader& header) : path_(path) {
    file_ = path == "-" ? stdout : open_locked(path, guarded_);
    msgpack::sbuffer buf;
    Packer p(buf);
    p.pack_map(5 + (header.threshold >= 0 ? 1 : 0) + (header.versions.empty() ? 0 : 1));
    pack_string(p, "schema"), pack_string(p, kRecordingSchema);
    pack_string(p, "model"), pack_string(p, header.model);
    pack_string(p, "classes"), p.pack(header.classes);
    pack_string(p, "cameras"), p.pack(header.cameras);
    pack_string(p, "created_ns"), p.pack(header.created_ns);
    if (header.threshold >= 0) pack_string(p, "threshold"), p.pack(header.threshold);
    if (!header.versions.empty()) pack_string(p, "versions"), p.pack(header.versions);
    put(std::string(buf.data(), buf.size()));
    flush();
}

RecordingWriter::~RecordingWriter() {
    if (file_ && file_ != stdout) std::fclose(file_); // an unflushed tail is lost only without close() (error paths)
}

void RecordingWriter::put(const std::string& bytes) {
    if (!file_) throw Error(ErrorCode::kIo, path_.string() + ": the recording is closed");
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) io_error(path_, "write failed");
}

void RecordingWriter::write(const Message& m) {
    write(encode_message(m));
}

void RecordingWriter::write(const EncodedMessage& m) {
    const std::string &topic = m.topic, &body = m.body;
    msgpack::sbuffer buf;
    Packer p(buf);
    p.pack_array(2);
    pack_string(p, topic);
    p.pack_bin(static_cast<std::uint32_t>(body.size()))
        .pack_bin_body(body.data(), static_cast<std::uint32_t>(body.size()));
    put(std::string(buf.data(), buf.size()));
    ++written_;
}

void RecordingWriter::flush() {
    if (file_ && std::fflush(file_) != 0) io_error(path_, "write failed");
}

void RecordingWriter::close() {
    if (!file_) return;
    flush();
    const int rc = file_ == stdout ? 0 : std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) io_error(path_, "close failed");
}

struct RecordingReader::Impl {
    std::filesystem::path path;
    std::ifstream in;
    msgpack::unpacker unpacker{nullptr, nullptr, MSGPACK_UNPACKER_INIT_BUFFER_SIZE, detail::unpack_limits()};
    bool eof = false;
    bool broken = false;       ///< the msgpack stream itself is broken: nothing after it can be read
    std::uint64_t records = 0; ///< records read
    /// The next complete object; false at the end of the file (leftover bytes: a truncated record).
    bool next(msgpack::object_handle& oh, bool& truncated) {
        if (broken) return false;
        for (;;) {
            try {
                if (unpacker.next(oh)) return true;
            } catch (const std::exception& e) {
                broken = true;
                throw Error(ErrorCode::kBadInput, path.string() + ": not msgpack after record " +
                                                      std::to_string(records) + " (" + e.what() + ")");
            }
            if (eof) {
                truncated = unpacker.nonparsed_size() > 0;
                return false;
            }
            unpacker.reserve_buffer(1 << 20);
            in.read(unpacker.buffer(), static_cast<std::streamsize>(unpacker.buffer_capacity()));
            const auto got = in.gcount();
            if (got <= 0)
                eof = true;
            else
                unpacker.buffer_consumed(static_cast<std::size_t>(got));
            if (in.bad()) throw Error(ErrorCode::kIo, path.string() + ": read failed");
            if (!in) eof = eof || in.eof();
        }
    }
};

namespace {

/// The header's fields, each checked as the wire's are (checks.hpp): the file is named in every error.
RecordingHeader read_header(const msgpack::object& o, const std::string& file) {
    const auto bad = [&](const std::string& why) -> Error {
        return Error(ErrorCode::kBadInput, file + ": the recording's header: " + why);
    };
    std::map<std::string, const msgpack::object*> h;
    for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) throw bad("a key that is not a string");
        if (!h.emplace(kv.key.as<std::string>(), &kv.val).second)
            throw bad("field '" + printable(kv.key.as<std::string>()) + "' appears twice");
    }
    const auto text = [&](const msgpack::object& v, std::size_t max, const std::string& what) {
        if (v.type != msgpack::type::STR) throw bad(what + " is not a string");
        const std::string s = v.as<std::string>();
        try {
            check_text(s, max, what);
        } catch (const Error& e) {
            throw bad(e.what());
        }
        return s;
    };
    const auto texts_of = [&](const msgpack::object& v, const std::string& key, std::size_t max_items) {
        std::vector<std::string> out;
        if (v.type != msgpack::type::ARRAY) throw bad(std::string(key) + " is not an array");
        if (v.via.array.size > max_items)
            throw bad(std::string(key) + ": " + std::to_string(v.via.array.size) + " items, more than the " +
                      std::to_string(max_items) + " allowed");
        for (std::uint32_t i = 0; i < v.via.array.size; ++i)
            out.push_back(
                text(v.via.array.ptr[i], limits::kNameBytes, std::string(key) + "[" + std::to_string(i) + "]"));
        return out;
    };
    const auto texts = [&](const char* key, std::size_t max_items) { return texts_of(*h.at(key), key, max_items); };
    RecordingHeader header;
    if (h.count("model")) header.model = text(*h["model"], limits::kNameBytes, "model");
    if (h.count("classes")) header.classes = texts("classes", limits::kClasses);
    if (h.count("cameras")) {
        header.cameras = texts("cameras", 1u << 16);
        for (std::size_t i = 0; i < header.cameras.size(); ++i)
            if (auto p = camera_id_problem(header.cameras[i]); !p.empty())
                throw bad("cameras[" + std::to_string(i) + "]: " + p);
    }
    if (h.count("created_ns")) {
        const msgpack::object& v = *h["created_ns"];
        if (v.type != msgpack::type::POSITIVE_INTEGER || v.via.u64 > std::uint64_t(INT64_MAX))
            throw bad("created_ns is not a time in ns since the epoch");
        header.created_ns = static_cast<std::int64_t>(v.via.u64);
    }
    if (h.count("threshold")) {
        const msgpack::object& v = *h["threshold"];
        const bool number = v.type == msgpack::type::FLOAT32 || v.type == msgpack::type::FLOAT64 ||
                            v.type == msgpack::type::POSITIVE_INTEGER;
        const double t = !number ? -1 : v.type == msgpack::type::POSITIVE_INTEGER ? double(v.via.u64) : v.via.f64;
        if (!(t >= 0 && t <= 1)) throw bad("threshold is not a score in [0, 1]");
        header.threshold = t;
    }
    if (h.count("versions")) {
        const msgpack::object& v = *h["versions"];
        if (v.type != msgpack::type::MAP || v.via.map.size > 256) throw bad("versions is not a map of versions");
        for (std::uint32_t i = 0; i < v.via.map.size; ++i) {
            const std::string name = text(v.via.map.ptr[i].key, limits::kNameBytes, "versions: a key");
            header.versions[name] = texts_of(v.via.map.ptr[i].val, "versions." + name, limits::kClasses);
        }
    }
    return header;
}

} // namespace

RecordingReader::RecordingReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
    impl_->path = path;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::kNotFound, path.string() + ": no such file");
    if (std::filesystem::is_directory(path, ec))
        throw Error(ErrorCode::kBadInput, path.string() + ": a folder, not a recording");
    impl_->in.open(path, std::ios::binary);
    if (!impl_->in) throw Error(ErrorCode::kIo, path.string() + ": cannot open");
    msgpack::object_handle oh;
    bool cut = false;
    const std::string not_recording = path.string() +
                                      ": not a sightline recording (expected a msgpack map with schema " +
                                      kRecordingSchema + " first)";
    if (!impl_->next(oh, cut) || oh.get().type != msgpack::type::MAP) throw Error(ErrorCode::kBadInput, not_recording);
    const auto& o = oh.get();
    bool schema = false;
    for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        schema = schema || (kv.key.type == msgpack::type::STR && kv.key.as<std::string>() == "schema" &&
                            kv.val.type == msgpack::type::STR && kv.val.as<std::string>() == kRecordingSchema);
    }
    if (!schema) throw Error(ErrorCode::kBadInput, not_recording);
    header_ = read_header(o, path.string());
}

RecordingReader::~RecordingReader() = default;

bool RecordingReader::next(std::string& topic, Message& message) {
    msgpack::object_handle oh;
    if (!impl_->next(oh, truncated_)) return false;
    // counted before it is judged: a caller that skips a refused record names the next one right
    impl_->records = ++records_;
    const std::string where = impl_->path.string() + ": record " + std::to_string(records_);
    const auto& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 2 || o.via.array.ptr[0].type != msgpack::type::STR ||
        o.via.array.ptr[1].type != msgpack::type::BIN)
        throw Error(ErrorCode::kBadInput, where + ": not a [topic, body] pair");
    const msgpack::object& t = o.via.array.ptr[0];
    const std::string_view topic_bytes(t.via.str.ptr, t.via.str.size);
    try {
        check_text(topic_bytes, limits::kNameBytes, "its topic");
        message = decode(std::string_view(o.via.array.ptr[1].via.bin.ptr, o.via.array.ptr[1].via.bin.size));
    } catch (const Error& e) {
        throw Error(ErrorCode::kBadInput, where + ": " + e.what());
    }
    topic = std::string(topic_bytes);
    // a version loaded while the line ran (hot swap): its classes come in its model_info event
    if (const auto* e = std::get_if<EventMessage>(&message);
        e && e->kind == "model_info" && !e->classes.empty() && header_.versions.size() < 256)
        header_.versions[e->message] = e->classes;
    // class indices within the model's list, which only the header knows (its version's, for a line of several)
    if (const auto* p = std::get_if<PredMessage>(&message)) {
        const auto version = header_.versions.find(p->model);
        const auto& classes = version != header_.versions.end() ? version->second : header_.classes;
        if (!classes.empty())
            for (std::size_t i = 0; i < p->classes.size(); ++i)
                if (static_cast<std::size_t>(p->classes[i]) >= classes.size())
                    throw Error(ErrorCode::kBadInput, where + ": message: field 'classes'[" + std::to_string(i) +
                                                          "] is class " + std::to_string(p->classes[i]) +
                                                          ", outside the header's " + std::to_string(classes.size()) +
                                                          " classes");
    }
    return true;
}

bool is_recording(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    const int c = in.get();
    return c != EOF && ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf);
}

} // namespace sightline::transport
