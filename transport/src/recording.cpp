// Recordings of runs (sightline.record/1): a msgpack header map, then [topic, body] arrays.
#include "sightline/transport/recording.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <msgpack.hpp>

#include "sightline/error.hpp"

namespace sightline::transport {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

void pack_string(Packer& p, std::string_view s) {
    p.pack_str(static_cast<std::uint32_t>(s.size())).pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

[[noreturn]] void io_error(const std::filesystem::path& path, const std::string& what) {
    throw Error(ErrorCode::kIo, path.string() + ": " + what + ": " + std::strerror(errno));
}

} // namespace

RecordingWriter::RecordingWriter(const std::filesystem::path& path, const RecordingHeader& header) : path_(path) {
    file_ = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
    if (!file_) io_error(path, "cannot create the recording");
    msgpack::sbuffer buf;
    Packer p(buf);
    p.pack_map(5);
    pack_string(p, "schema"), pack_string(p, kRecordingSchema);
    pack_string(p, "model"), pack_string(p, header.model);
    pack_string(p, "classes"), p.pack(header.classes);
    pack_string(p, "cameras"), p.pack(header.cameras);
    pack_string(p, "created_ns"), p.pack(header.created_ns);
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
    msgpack::unpacker unpacker;
    bool eof = false;
    /// The next complete object; false at the end of the file (leftover bytes: a truncated record).
    bool next(msgpack::object_handle& oh, bool& truncated) {
        for (;;) {
            try {
                if (unpacker.next(oh)) return true;
            } catch (const std::exception& e) {
                throw Error(ErrorCode::kBadInput, path.string() + ": not msgpack (" + e.what() + ")");
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

RecordingReader::RecordingReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
    impl_->path = path;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::kNotFound, path.string() + ": no such file");
    impl_->in.open(path, std::ios::binary);
    if (!impl_->in) throw Error(ErrorCode::kIo, path.string() + ": cannot open");
    msgpack::object_handle oh;
    bool cut = false;
    const std::string not_recording = path.string() +
                                      ": not a sightline recording (expected a msgpack map with schema " +
                                      kRecordingSchema + " first)";
    if (!impl_->next(oh, cut) || oh.get().type != msgpack::type::MAP) throw Error(ErrorCode::kBadInput, not_recording);
    try {
        std::map<std::string, msgpack::object> h;
        const auto& o = oh.get();
        for (std::uint32_t i = 0; i < o.via.map.size; ++i)
            if (o.via.map.ptr[i].key.type == msgpack::type::STR)
                h[o.via.map.ptr[i].key.as<std::string>()] = o.via.map.ptr[i].val;
        if (!h.count("schema") || h["schema"].as<std::string>() != kRecordingSchema)
            throw Error(ErrorCode::kBadInput, not_recording);
        if (h.count("model")) header_.model = h["model"].as<std::string>();
        if (h.count("classes")) header_.classes = h["classes"].as<std::vector<std::string>>();
        if (h.count("cameras")) header_.cameras = h["cameras"].as<std::vector<std::string>>();
        if (h.count("created_ns")) header_.created_ns = h["created_ns"].as<std::int64_t>();
    } catch (const msgpack::type_error&) {
        throw Error(ErrorCode::kBadInput, path.string() + ": the recording's header has a field of the wrong type");
    }
}

RecordingReader::~RecordingReader() = default;

bool RecordingReader::next(std::string& topic, Message& message) {
    msgpack::object_handle oh;
    if (!impl_->next(oh, truncated_)) return false;
    const std::string where = impl_->path.string() + ": record " + std::to_string(records_ + 1);
    const auto& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 2 || o.via.array.ptr[0].type != msgpack::type::STR ||
        o.via.array.ptr[1].type != msgpack::type::BIN)
        throw Error(ErrorCode::kBadInput, where + ": not a [topic, body] pair");
    topic = o.via.array.ptr[0].as<std::string>();
    try {
        message = decode(std::string_view(o.via.array.ptr[1].via.bin.ptr, o.via.array.ptr[1].via.bin.size));
    } catch (const Error& e) {
        throw Error(ErrorCode::kBadInput, where + ": " + e.what());
    }
    ++records_;
    return true;
}

bool is_recording(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    const int c = in.get();
    return c != EOF && ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf);
}

} // namespace sightline::transport
