// CURVE key files, the ZAP handler that admits clients, and the count of refused handshakes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "curve.hpp"
#include "sightline/error.hpp"
#include "sightline/transport/checks.hpp"
#include "zmq_context.hpp"

namespace sightline::transport {

namespace {

constexpr std::size_t kZ85Key = 40;

/// The one Z85 key a key file holds (whitespace around it allowed), checked by decoding it.
std::string read_key(const std::filesystem::path& file, const char* kind) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorCode::kIo, file.string() + ": cannot read the " + kind + " key file");
    std::stringstream text;
    text << in.rdbuf();
    std::string key = text.str();
    const auto first = key.find_first_not_of(" \t\r\n"), last = key.find_last_not_of(" \t\r\n");
    key = first == std::string::npos ? "" : key.substr(first, last - first + 1);
    std::array<std::uint8_t, 32> raw{};
    if (key.size() != kZ85Key || !zmq_z85_decode(raw.data(), key.c_str()))
        throw Error(ErrorCode::kBadInput, file.string() + ": not a " + kind +
                                              " key file (one 40-character Z85 key: sightline keys generate NAME)");
    return key;
}

void write_new(const std::filesystem::path& file, const std::string& text, mode_t mode, bool overwrite) {
    // created with its mode (O_CREAT honours it before anything is written): a secret is never readable by others
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL), mode);
    if (fd < 0)
        throw Error(ErrorCode::kIo, file.string() + ": cannot create" +
                                        (errno == EEXIST ? std::string(" (it exists: --force replaces it)")
                                                         : std::string(": ") + std::strerror(errno)));
    const bool ok =
        ::fchmod(fd, mode) == 0 && ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    if (!ok) throw Error(ErrorCode::kIo, file.string() + ": cannot write: " + std::strerror(err));
}

std::filesystem::path with_suffix(const std::filesystem::path& name, const char* suffix) {
    return name.string() + suffix;
}

} // namespace

CurveKeyPair generate_key_files(const std::filesystem::path& name, bool overwrite) {
    char pub[kZ85Key + 1], sec[kZ85Key + 1];
    if (zmq_curve_keypair(pub, sec) != 0)
        throw Error(ErrorCode::kUnsupported, "this libzmq has no CURVE (built without libsodium)");
    const auto key = with_suffix(name, ".key"), pubfile = with_suffix(name, ".pub");
    write_new(key, std::string(sec) + "\n", 0600, overwrite);
    write_new(pubfile, std::string(pub) + "\n", 0644, overwrite);
    return {pub, sec};
}

CurveKeyPair load_secret_key(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0)
        throw Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                    file.string() + ": cannot read the secret key file: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::kBadInput, file.string() + ": not a regular file");
    if (st.st_mode & 077) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        throw Error(ErrorCode::kBadInput, file.string() + ": a secret key readable or writable by others (mode " +
                                              mode + "): chmod 600 " + file.string());
    }
    CurveKeyPair k;
    k.secret_key = read_key(file, "secret");
    char pub[kZ85Key + 1];
    if (zmq_curve_public(pub, k.secret_key.c_str()) != 0)
        throw Error(ErrorCode::kUnsupported, "this libzmq has no CURVE (built without libsodium)");
    k.public_key = pub;
    return k;
}

std::string load_public_key(const std::filesystem::path& file) {
    if (std::error_code ec; !std::filesystem::exists(file, ec))
        throw Error(ErrorCode::kNotFound, file.string() + ": no such public key file");
    return read_key(file, "public");
}

std::vector<CurveClient> load_client_keys(const std::string& key, const std::vector<std::string>& server_keys) {
    if (key.empty() && server_keys.empty()) return {};
    if (key.empty()) throw Error(ErrorCode::kBadInput, "--server-key needs --key (this side's secret key file)");
    if (server_keys.empty())
        throw Error(ErrorCode::kBadInput, "--key needs --server-key (the line's public key file, its .pub)");
    const CurveKeyPair mine = load_secret_key(key);
    std::vector<CurveClient> out;
    for (const auto& s : server_keys) out.push_back({mine, load_public_key(s)});
    return out;
}

bool is_local_endpoint(const std::string& endpoint) {
    if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
    if (endpoint.rfind("tcp://", 0) != 0) return false;
    std::string host = endpoint.substr(6, endpoint.rfind(':') - 6);
    if (const auto semi = host.find(';'); semi != std::string::npos) host = host.substr(semi + 1); // source;dest
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0 || host == "lo";
}

namespace detail {

namespace {

/// The process's ZAP handler: admits a CURVE client when its server's domain admits any client or lists its key.
class Authenticator {
  public:
    static Authenticator& get() {
        static Authenticator a; // after context(): destroyed before it, so its socket closes first
        return a;
    }
    std::string add(const std::vector<std::string>& authorized) {
        std::lock_guard lock(mu_);
        const std::string domain = "sightline-" + std::to_string(next_++);
        std::optional<std::set<std::string>>& keys = domains_[domain];
        if (!authorized.empty()) {
            keys.emplace();
            for (const auto& z85 : authorized) {
                std::array<std::uint8_t, 32> raw{};
                if (z85.size() != kZ85Key || !zmq_z85_decode(raw.data(), z85.c_str()))
                    throw Error(ErrorCode::kBadInput, "an authorized key that is not a Z85 public key");
                keys->insert(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()));
            }
        }
        return domain;
    }
    void forget(const std::string& domain) {
        std::lock_guard lock(mu_);
        domains_.erase(domain);
    }
    ~Authenticator() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }

  private:
    Authenticator() : socket_(context(), zmq::socket_type::rep) {
        socket_.set(zmq::sockopt::linger, 0);
        socket_.bind("inproc://zeromq.zap.01"); // bound before any server exists: no handshake goes unanswered
        thread_ = std::thread([this] { serve(); });
    }
    void serve() {
        zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
        while (!stop_) {
            if (poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
            std::vector<zmq::message_t> req;
            for (;;) {
                zmq::message_t part;
                if (!socket_.recv(part, zmq::recv_flags::dontwait)) break;
                const bool more = part.more();
                req.push_back(std::move(part));
                if (!more) break;
            }
            if (req.size() < 6) continue; // not a ZAP request: nothing to answer (cannot happen in-process)
            const std::string domain = req[2].to_string(), mechanism = req[5].to_string();
            bool ok = mechanism != "CURVE"; // a plain socket of this process (no domain to admit by)
            if (mechanism == "CURVE" && req.size() >= 7) {
                std::lock_guard lock(mu_);
                const auto d = domains_.find(domain);
                ok = d != domains_.end() && (!d->second || d->second->count(req[6].to_string()) > 0);
            }
            const std::array<std::string, 6> reply = {
                "1.0", req[1].to_string(), ok ? "200" : "400", ok ? "OK" : "key not authorized", "", ""};
            for (std::size_t i = 0; i < reply.size(); ++i)
                socket_.send(zmq::buffer(reply[i]),
                             i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
        }
    }
    zmq::socket_t socket_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::map<std::string, std::optional<std::set<std::string>>> domains_; ///< nullopt: any client with the key
    std::uint64_t next_ = 0;
};

} // namespace

std::string make_server(zmq::socket_t& socket, const CurveServer& curve) {
    const std::string domain = Authenticator::get().add(curve.authorized);
    socket.set(zmq::sockopt::zap_domain, domain);
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, curve.keys.secret_key);
    return domain;
}

void forget_domain(const std::string& domain) {
    if (!domain.empty()) Authenticator::get().forget(domain);
}

void make_client(zmq::socket_t& socket, const CurveClient& curve) {
    socket.set(zmq::sockopt::curve_serverkey, curve.server_key);
    socket.set(zmq::sockopt::curve_publickey, curve.keys.public_key);
    socket.set(zmq::sockopt::curve_secretkey, curve.keys.secret_key);
}

namespace {
std::atomic<std::uint64_t> g_watch_id{0};
}

HandshakeWatch::HandshakeWatch(zmq::socket_t& server) : server_(server), events_(context(), zmq::socket_type::pair) {
    const std::string endpoint = "inproc://sightline-handshakes-" + std::to_string(g_watch_id++);
    if (zmq_socket_monitor(server_.handle(), endpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
        throw Error(ErrorCode::kTransport, std::string("cannot watch handshakes: ") + zmq_strerror(zmq_errno()));
    events_.set(zmq::sockopt::linger, 0);
    events_.connect(endpoint);
}

HandshakeWatch::~HandshakeWatch() {
    zmq_socket_monitor(server_.handle(), nullptr, 0); // stops the monitor before its peer closes
}

std::uint64_t HandshakeWatch::refused() {
    for (;;) {
        zmq::message_t event;
        try {
            if (!events_.recv(event, zmq::recv_flags::dontwait)) break;
        } catch (const zmq::error_t&) {
            break;
        }
        if (event.more()) { // an event is two frames: [id (u16) + value (u32), endpoint]
            zmq::message_t where;
            (void)events_.recv(where, zmq::recv_flags::none);
            Failure f;
            f.endpoint = where.to_string();
            if (event.size() >= 6) {
                std::uint16_t id = 0;
                std::uint32_t value = 0;
                std::memcpy(&id, event.data(), 2);
                std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
                f.event = id, f.value = static_cast<int>(value);
            }
            // a connection this socket dialled that closes before its handshake succeeded: the peer refused it
            // (libzmq reports a socket-type mismatch on the dialling side only so: connected, then disconnected)
            if (f.event == ZMQ_EVENT_CONNECTED || f.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                dialled_[f.endpoint] = f.event == ZMQ_EVENT_CONNECTED;
                continue;
            }
            if (f.event == ZMQ_EVENT_DISCONNECTED) {
                const auto it = dialled_.find(f.endpoint);
                const bool refused = it != dialled_.end() && it->second;
                if (it != dialled_.end()) dialled_.erase(it);
                if (!refused) continue;
            }
            ++refused_;
            last_ = std::move(f);
        }
    }
    return refused_;
}

std::string handshake_problem(const HandshakeWatch::Failure& f, const std::string& expected, bool curve) {
    if (f.event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return f.endpoint + ": the peer refused this process's CURVE key (docs/security.md)";
    // libzmq reports a socket-type mismatch (ZMTP's metadata check) with no detail under the NULL mechanism
    if (f.event == ZMQ_EVENT_DISCONNECTED && curve)
        return f.endpoint +
               ": the peer closed the connection during the handshake: it refused this process's CURVE "
               "key (docs/security.md), or it is not " +
               expected;
    if (f.event == ZMQ_EVENT_DISCONNECTED)
        return f.endpoint + ": not " + expected +
               ": the peer closed the connection during the handshake (a ZeroMQ socket of another kind: the line's "
               "samples channel, publish.samples, is a ROUTER; its predictions, publish.predictions, a PUB; or a peer "
               "that wants CURVE)";
    if ((f.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL && !curve) ||
        (f.event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
         (f.value == ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA || f.value == ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED)))
        return f.endpoint + ": not " + expected +
               ": a ZeroMQ socket of another kind answered (the line's samples channel, publish.samples, is a "
               "ROUTER; its predictions, publish.predictions, a PUB)";
    if (f.event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return f.endpoint + ": not " + expected + ": the peer does not speak ZeroMQ's protocol (protocol error " +
               std::to_string(f.value) + ")";
    return f.endpoint + ": the handshake failed (" +
           (f.event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ? std::string("no detail: often a CURVE mismatch, one side "
                                                                          "with a key and the other without")
                                                            : "event " + std::to_string(f.event)) +
           ")";
}

} // namespace detail

} // namespace sightline::transport
