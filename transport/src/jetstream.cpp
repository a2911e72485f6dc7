#include "sightline/transport/jetstream.hpp"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "sightline/error.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::transport {

namespace {

// One deleter per handle (as media/ffmpeg_util.hpp does for FFmpeg's).
struct OptionsFree {
    void operator()(natsOptions* p) const { natsOptions_Destroy(p); }
};
struct ConnectionFree {
    void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
};
struct ContextFree {
    void operator()(jsCtx* p) const { jsCtx_Destroy(p); }
};
struct SubscriptionFree {
    void operator()(natsSubscription* p) const { natsSubscription_Destroy(p); }
};
struct MsgFree {
    void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
};
struct StreamInfoFree {
    void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); }
};
struct ConsumerInfoFree {
    void operator()(jsConsumerInfo* p) const { jsConsumerInfo_Destroy(p); }
};
using OptionsPtr = std::unique_ptr<natsOptions, OptionsFree>;
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionFree>;
using ContextPtr = std::unique_ptr<jsCtx, ContextFree>;
using SubscriptionPtr = std::unique_ptr<natsSubscription, SubscriptionFree>;
using MsgPtr = std::unique_ptr<natsMsg, MsgFree>;

std::string servers_text(const NatsOptions& o) {
    std::string s;
    for (const auto& u : o.servers) s += (s.empty() ? "" : ",") + u;
    return s;
}

/// "what: the status's text (the JetStream error code)" with libnats's own last error when it says more.
std::string describe(natsStatus s, jsErrCode code = jsErrCode(0)) {
    std::string text = natsStatus_GetText(s);
    natsStatus last = NATS_OK;
    if (const char* detail = nats_GetLastError(&last); detail && *detail && last == s && text != detail)
        text += std::string(" (") + detail + ")";
    if (code != 0) text += " [JetStream error " + std::to_string(int(code)) + "]";
    return text;
}

/// What a cluster still forming, electing its leaders, or busy answers: late, not at all, or without peers. Worth
/// asking again for a while; anything else is an answer.
bool transient(natsStatus s, jsErrCode code) {
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || code == JSClusterNotAvailErr || code == JSClusterNoPeersErr;
}
constexpr auto kTransientGiveUp = std::chrono::seconds(60); ///< how long a transient answer is asked again

/// Calls `ask` (a JetStream API request that sets `code`), and again every 500 ms while its answer is transient(),
/// until `give_up`; warns once, naming `where`. Returns the last answer.
template <class Ask>
natsStatus ask_while_transient(Ask&& ask, jsErrCode& code, const std::string& where,
                               std::chrono::steady_clock::time_point give_up) {
    code = jsErrCode(0);
    natsStatus s = ask();
    for (bool said = false; transient(s, code) && std::chrono::steady_clock::now() < give_up;) {
        if (!said) spdlog::warn("{}: not made yet ({}); trying again", where, describe(s, code));
        said = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        code = jsErrCode(0);
        s = ask();
    }
    return s;
}

std::int64_t ms(double seconds) {
    return static_cast<std::int64_t>(seconds * 1000);
}
std::int64_t ns(double seconds) {
    return static_cast<std::int64_t>(seconds * 1e9);
}

/// A connection and its JetStream context; `configure` sets the context's options (the writer's ack handler).
struct Connection {
    OptionsPtr options;
    ConnectionPtr nc;
    ContextPtr js;

    Connection(const NatsOptions& o, jsOptions* jso) {
        if (o.servers.empty()) throw Error(ErrorCode::kBadInput, "nats: no server URL given");
        natsOptions* raw = nullptr;
        if (natsOptions_Create(&raw) != NATS_OK) throw Error(ErrorCode::kTransport, "nats: out of memory");
        options.reset(raw);
        std::vector<const char*> urls;
        for (const auto& u : o.servers) urls.push_back(u.c_str());
        natsOptions_SetServers(raw, urls.data(), int(urls.size()));
        natsOptions_SetName(raw, o.name.c_str());
        natsOptions_SetMaxReconnect(raw, -1); // a server that comes back is found again, however long it took
        natsOptions_SetReconnectWait(raw, 250);
        natsOptions_SetTimeout(raw, 2000);
        natsOptions_SetPingInterval(raw, 2000); // a server gone without closing its socket is noticed in seconds
        natsOptions_SetMaxPingsOut(raw, 2);
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms(o.request_timeout_s));
        natsStatus s = NATS_OK;
        for (;;) {
            natsConnection* c = nullptr;
            s = natsConnection_Connect(&c, raw);
            if (s == NATS_OK) {
                nc.reset(c);
                break;
            }
            if (std::chrono::steady_clock::now() >= give_up)
                throw Error(ErrorCode::kTransport, "nats " + servers_text(o) + ": cannot connect: " + describe(s));
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
        }
        jsCtx* j = nullptr;
        if (natsConnection_JetStream(&j, nc.get(), jso) != NATS_OK)
            throw Error(ErrorCode::kTransport, "nats " + servers_text(o) + ": no JetStream context");
        js.reset(j);
    }
    bool connected() const { return natsConnection_Status(nc.get()) == NATS_CONN_STATUS_CONNECTED; }
};

bool permanent(natsStatus s, jsErrCode code) {
    return s == NATS_MAX_PAYLOAD || code == JSStreamMessageExceedsMaximumErr;
}

} // namespace

std::vector<std::string> nats_servers(const std::vector<std::string>& values) {
    std::vector<std::string> out;
    for (const auto& v : values) {
        std::size_t start = 0;
        while (start <= v.size()) {
            const std::size_t comma = std::min(v.find(',', start), v.size());
            std::string url = v.substr(start, comma - start);
            start = comma + 1;
            if (url.empty()) continue;
            if (url.find("://") == std::string::npos) url = "nats://" + url;
            const bool scheme = url.rfind("nats://", 0) == 0 || url.rfind("tls://", 0) == 0;
            const auto colon = url.rfind(':');
            const std::string port = colon == std::string::npos ? "" : url.substr(colon + 1);
            const bool digits = !port.empty() && port.size() <= 5 &&
                                std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
            if (!scheme || !digits || std::stoi(port) < 1 || std::stoi(port) > 65535 || url.find("://") + 3 >= colon)
                throw Error(ErrorCode::kBadInput,
                            "--nats '" + printable(v) + "': '" + printable(url) + "' is no nats://HOST:PORT");
            out.push_back(url);
        }
    }
    if (out.empty()) throw Error(ErrorCode::kBadInput, "--nats: no server URL given");
    return out;
}

std::int64_t parse_start_time_ns(std::string_view text) {
    const std::string t(text);
    const auto bad = [&] {
        return Error(ErrorCode::kBadInput,
                     "--from-time '" + printable(t) +
                         "': give 2026-12-07T03:00:00Z (UTC) or a time before now: -30m, -2h, -1d");
    };
    const auto now_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    if (!t.empty() && t[0] == '-') {
        std::size_t used = 0;
        double n = 0;
        try {
            n = std::stod(t.substr(1), &used);
        } catch (const std::exception&) {
            throw bad();
        }
        const std::string unit = t.substr(1 + used);
        const double scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : -1;
        if (scale < 0 || !(n >= 0) || n * scale > 1e9) throw bad();
        return now_ns - std::int64_t(n * scale * 1e9);
    }
    std::tm tm{};
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    char zone = 0;
    const int got = std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &zone);
    if (got < 5 || (got == 7 && zone != 'Z') || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60 || y < 1970 || y > 2100) // within the wire's times (2^62 ns: 2116)
        throw bad();
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d, tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
    return std::int64_t(timegm(&tm)) * 1'000'000'000;
}

std::string subject_token(std::string_view name) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(name.size());
    for (const char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '.' || c == '*' || c == '>' || c == '%' || c <= ' ' || c == 0x7f) {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += ch;
        }
    }
    return out;
}

namespace {
std::string line_of(const std::string& line, std::string_view default_line) {
    return subject_token(line.empty() ? default_line : std::string_view(line));
}

PredKey key_of(const PredMessage& p) {
    return PredKey{p.line, p.camera, p.model, p.seq, p.time_ns, p.shadow};
}
} // namespace

std::string jetstream_subject(const PredKey& k, std::string_view default_line) {
    return "sightline." + line_of(k.line, default_line) + (k.shadow ? ".shadow." : ".pred.") + subject_token(k.camera);
}

std::string jetstream_msg_id(const PredKey& k, std::string_view default_line) {
    return line_of(k.line, default_line) + (k.shadow ? "/shadow/" : "/pred/") + subject_token(k.model) + "/" +
           subject_token(k.camera) + "/" + std::to_string(k.seq) + "/" + std::to_string(k.time_ns);
}

std::string jetstream_subject(const Message& m, std::string_view default_line) {
    if (const auto* p = std::get_if<PredMessage>(&m)) return jetstream_subject(key_of(*p), default_line);
    if (const auto* s = std::get_if<StatMessage>(&m))
        return "sightline." + line_of(s->line, default_line) + ".stat." + subject_token(s->camera);
    return "sightline." + line_of(std::get<EventMessage>(m).line, default_line) + ".event";
}

std::string jetstream_sample_subject(const SampleMessage& s, std::string_view default_line) {
    return "sightline." + line_of(s.pred.line, default_line) + ".sample." + subject_token(s.pred.camera);
}

std::string jetstream_msg_id(const Message& m, std::string_view default_line) {
    if (const auto* p = std::get_if<PredMessage>(&m)) return jetstream_msg_id(key_of(*p), default_line);
    if (const auto* s = std::get_if<StatMessage>(&m))
        return line_of(s->line, default_line) + "/stat/" + subject_token(s->camera) + "/" + std::to_string(s->time_ns);
    const auto& e = std::get<EventMessage>(m);
    return line_of(e.line, default_line) + "/event/" + subject_token(e.kind) + "/" + subject_token(e.camera) + "/" +
           subject_token(e.run) + "/" + std::to_string(e.time_ns) + "/" +
           (e.alarm ? subject_token(e.alarm->signal + "/" + e.alarm->test) : std::string());
}

// ---------------------------------------------------------------------------------------------------------------
// The writer

namespace {
enum class State { kWaiting, kInFlight, kFailed, kAcked, kRefused };
struct Entry {
    std::string subject, body, msg_id;
    std::uint64_t token = 0;
    State state = State::kWaiting;
    bool sent_before = false;
};
struct Result {
    std::uint64_t n = 0; ///< the entry's publish order
    bool ok = false, duplicate = false;
    natsStatus status = NATS_OK;
    jsErrCode code = jsErrCode(0);
};
/// What libnats's thread hands over: results of publishes, by the message handle each went out as.
struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::unordered_map<const natsMsg*, std::uint64_t> order; ///< message in flight -> entry
    std::vector<Result> results;
};

void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* s = static_cast<Shared*>(closure);
    {
        std::lock_guard lock(s->mu);
        if (auto it = s->order.find(msg); it != s->order.end()) {
            Result r;
            r.n = it->second;
            r.ok = pa != nullptr;
            r.duplicate = pa && pa->Duplicate;
            if (pae) r.status = pae->Err, r.code = pae->ErrCode;
            s->results.push_back(r);
            s->order.erase(it);
        }
    }
    s->cv.notify_one();
    natsMsg_Destroy(msg);
}
} // namespace

struct JetStreamWriter::Impl {
    JetStreamWriterOptions o;
    std::unique_ptr<Shared> shared = std::make_unique<Shared>(); ///< outlives the connection (callbacks)
    std::unique_ptr<Connection> conn;
    std::deque<Entry> entries;
    std::uint64_t first = 0;  ///< publish order of entries.front()
    std::uint64_t cursor = 0; ///< no entry before this one waits or failed
    std::size_t in_flight = 0;
    bool holding = false; ///< a failure: send nothing until everything in flight is answered
    std::chrono::steady_clock::time_point retry_at{};
    double backoff_s = 0;
    JetStreamWriterCounters counters;
    std::vector<std::uint64_t> acked_tokens, refused_tokens;
    std::string last_error;
    std::int64_t max_payload = 0;

    Entry& at(std::uint64_t n) { return entries[std::size_t(n - first)]; }

    void fail(std::uint64_t n, const std::string& why, bool refuse) {
        Entry& e = at(n);
        ++counters.failures;
        last_error = e.subject + ": " + why;
        if (refuse) { // never storable: said loudly, dropped (it would hold every message behind it forever)
            e.state = State::kRefused;
            ++counters.refused;
            return;
        }
        e.state = State::kFailed;
        cursor = std::min(cursor, n);
        if (!holding) {
            backoff_s = backoff_s == 0 ? o.retry_wait_s : std::min(backoff_s * 2, 4.0);
            retry_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms(backoff_s));
        }
        holding = true;
    }

    void send(std::uint64_t n) {
        Entry& e = at(n);
        if (e.sent_before) ++counters.retried;
        e.sent_before = true;
        if (max_payload > 0 && std::int64_t(e.body.size()) > max_payload) {
            fail(n,
                 std::to_string(e.body.size()) + " bytes, over the servers' max_payload of " +
                     std::to_string(max_payload),
                 true);
            return;
        }
        natsMsg* m = nullptr;
        if (natsMsg_Create(&m, e.subject.c_str(), nullptr, e.body.data(), int(e.body.size())) != NATS_OK) {
            fail(n, "cannot make a message", false);
            return;
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = e.msg_id.c_str();
        po.MaxWait = ms(o.ack_wait_s);
        const natsMsg* handle = m;
        {
            std::lock_guard lock(shared->mu);
            shared->order[handle] = n;
        }
        e.state = State::kInFlight;
        ++in_flight;
        ++counters.published;
        const natsStatus s = js_PublishMsgAsync(conn->js.get(), &m, &po);
        if (s != NATS_OK) {
            {
                std::lock_guard lock(shared->mu);
                shared->order.erase(handle);
            }
            natsMsg_Destroy(m);
            --in_flight;
            fail(n, describe(s), permanent(s, jsErrCode(0)));
        }
    }

    void send_ready() {
        if (holding) {
            if (in_flight > 0 || std::chrono::steady_clock::now() < retry_at) return;
            holding = false;
        }
        for (std::uint64_t n = cursor; n < first + entries.size(); ++n) {
            const State st = at(n).state;
            if (st == State::kWaiting || st == State::kFailed) {
                if (holding || in_flight >= std::size_t(o.max_in_flight)) return;
                send(n); // a failure here sets holding
            }
            const State now = at(n).state;
            if (n == cursor && now != State::kWaiting && now != State::kFailed) ++cursor;
        }
    }

    void take_results(std::chrono::milliseconds wait) {
        std::vector<Result> got;
        {
            std::unique_lock lock(shared->mu);
            if (shared->results.empty() && wait.count() > 0)
                shared->cv.wait_for(lock, wait, [&] { return !shared->results.empty(); });
            got.swap(shared->results);
        }
        for (const Result& r : got) {
            if (r.n < first || at(r.n).state != State::kInFlight) continue;
            --in_flight;
            if (r.ok) {
                at(r.n).state = State::kAcked;
                ++counters.acked;
                if (r.duplicate) ++counters.duplicates;
                backoff_s = 0;
            } else {
                fail(r.n, describe(r.status, r.code), permanent(r.status, r.code));
            }
        }
        while (!entries.empty() &&
               (entries.front().state == State::kAcked || entries.front().state == State::kRefused)) {
            (entries.front().state == State::kAcked ? acked_tokens : refused_tokens).push_back(entries.front().token);
            entries.pop_front();
            ++first;
        }
        cursor = std::max(cursor, first);
    }
};

JetStreamWriter::JetStreamWriter(const JetStreamWriterOptions& o) : impl_(std::make_unique<Impl>()) {
    impl_->o = o;
    jsOptions jso;
    jsOptions_Init(&jso);
    jso.Wait = ms(o.nats.request_timeout_s);
    jso.PublishAsync.AckHandler = on_ack;
    jso.PublishAsync.AckHandlerClosure = impl_->shared.get();
    jso.PublishAsync.MaxPending = o.max_in_flight + 1; // the writer keeps its own count below this
    impl_->conn = std::make_unique<Connection>(o.nats, &jso);
    impl_->max_payload = natsConnection_GetMaxPayload(impl_->conn->nc.get());
}

JetStreamWriter::~JetStreamWriter() {
    if (impl_ && impl_->conn) natsConnection_Close(impl_->conn->nc.get());
}

void JetStreamWriter::ensure_stream(const StreamSettings& st) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = st.name.c_str();
    std::vector<const char*> subjects;
    for (const auto& s : st.subjects) subjects.push_back(s.c_str());
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = int(subjects.size());
    cfg.Storage = st.file_storage ? js_FileStorage : js_MemoryStorage;
    cfg.Replicas = st.replicas;
    cfg.Duplicates = ns(st.duplicate_window_s);
    cfg.MaxAge = ns(st.max_age_s);
    cfg.MaxBytes = st.max_bytes;
    cfg.MaxMsgSize = st.max_msg_size;
    jsStreamInfo* si = nullptr;
    jsErrCode code = jsErrCode(0);
    const std::string where = "nats " + servers_text(impl_->o.nats) + ": stream " + st.name;
    // a cluster still forming, electing its leaders, or busy answers late, not at all or without peers: try again
    const auto give_up = std::chrono::steady_clock::now() + kTransientGiveUp;
    natsStatus s = ask_while_transient([&] { return js_AddStream(&si, impl_->conn->js.get(), &cfg, nullptr, &code); },
                                       code, where, give_up);
    std::unique_ptr<jsStreamInfo, StreamInfoFree> hold(si);
    if (s == NATS_OK) return;
    if (code != JSStreamNameExistErr)
        throw Error(ErrorCode::kTransport, where + ": cannot create it: " + describe(s, code));
    hold.reset();
    si = nullptr;
    s = js_GetStreamInfo(&si, impl_->conn->js.get(), st.name.c_str(), nullptr, &code);
    hold.reset(si);
    if (s != NATS_OK) throw Error(ErrorCode::kTransport, where + ": exists but cannot be read: " + describe(s, code));
    std::vector<std::string> have(si->Config->Subjects, si->Config->Subjects + si->Config->SubjectsLen);
    for (const auto& want : st.subjects)
        if (std::find(have.begin(), have.end(), want) == have.end())
            throw Error(ErrorCode::kBadInput, where + " exists without subject " + want +
                                                  " (another stream of that name: give --stream another name)");
}

void JetStreamWriter::publish(std::string subject, std::string body, std::string msg_id, std::uint64_t token) {
    auto& s = *impl_;
    while (s.entries.size() >= s.o.max_waiting) pump(std::chrono::milliseconds(50));
    s.entries.push_back(Entry{std::move(subject), std::move(body), std::move(msg_id), token});
    s.send_ready();
}

void JetStreamWriter::pump(std::chrono::milliseconds wait) {
    auto& s = *impl_;
    if (s.holding && s.in_flight == 0) { // waiting out the pause before sending again
        const auto left = s.retry_at - std::chrono::steady_clock::now();
        if (left > std::chrono::milliseconds(0))
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, wait));
    }
    s.take_results(s.in_flight > 0 ? wait : std::chrono::milliseconds(0));
    s.send_ready();
}

std::vector<std::uint64_t> JetStreamWriter::take_refused() {
    std::vector<std::uint64_t> out;
    out.swap(impl_->refused_tokens);
    return out;
}

std::vector<std::uint64_t> JetStreamWriter::take_acknowledged() {
    std::vector<std::uint64_t> out;
    out.swap(impl_->acked_tokens);
    return out;
}

bool JetStreamWriter::drain(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (!impl_->entries.empty() && std::chrono::steady_clock::now() < until) pump(std::chrono::milliseconds(20));
    return impl_->entries.empty();
}

std::size_t JetStreamWriter::held() const {
    return impl_->entries.size();
}
std::size_t JetStreamWriter::in_flight() const {
    return impl_->in_flight;
}
const JetStreamWriterCounters& JetStreamWriter::counters() const {
    return impl_->counters;
}
bool JetStreamWriter::connected() const {
    return impl_->conn->connected();
}
const std::string& JetStreamWriter::last_error() const {
    return impl_->last_error;
}

// ---------------------------------------------------------------------------------------------------------------
// The reader

struct JetStreamReader::Impl {
    JetStreamReaderOptions o;
    std::unique_ptr<Connection> conn;
    SubscriptionPtr sub;
    std::map<std::uint64_t, MsgPtr> unanswered;

    natsMsg* take(std::uint64_t seq, MsgPtr& hold) {
        auto it = unanswered.find(seq);
        if (it == unanswered.end()) return nullptr;
        hold = std::move(it->second);
        unanswered.erase(it);
        return hold.get();
    }
};

namespace {
/// Asks for the durable consumer `o` names, again every 250 ms while the answer is transient or "not found", until
/// `until`; returns the last answer (`code`: its JetStream error). Another reader of the same durable (a second
/// collector started at the same moment) may have just made it, and a consumer of a replicated stream answers only
/// once its replicas elect a leader.
natsStatus wait_for_consumer(jsCtx* js, const JetStreamReaderOptions& o, jsErrCode& code,
                             std::chrono::steady_clock::time_point until) {
    for (;;) {
        jsConsumerInfo* info = nullptr;
        code = jsErrCode(0);
        const natsStatus s = js_GetConsumerInfo(&info, js, o.stream.c_str(), o.durable.c_str(), nullptr, &code);
        jsConsumerInfo_Destroy(info);
        if (s == NATS_OK || !(transient(s, code) || code == JSConsumerNotFoundErr) ||
            std::chrono::steady_clock::now() >= until)
            return s;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
}

/// Makes the durable consumer `config` describes, asking again while the cluster answers transiently (until
/// `give_up`). One that another reader of the same durable (a second collector) made meanwhile is as good.
void make_consumer(jsCtx* js, const JetStreamReaderOptions& o, jsConsumerConfig& config, const std::string& where,
                   std::chrono::steady_clock::time_point give_up) {
    jsErrCode code = jsErrCode(0);
    const natsStatus add = ask_while_transient(
        [&] {
            jsConsumerInfo* made = nullptr;
            const natsStatus r = js_AddConsumer(&made, js, o.stream.c_str(), &config, nullptr, &code);
            jsConsumerInfo_Destroy(made);
            return r;
        },
        code, where, give_up);
    if (add == NATS_OK) return;
    spdlog::info("{}: not made here ({}); looking for the one another reader made", where, describe(add, code));
    jsErrCode again = jsErrCode(0);
    const auto until = std::min(give_up, std::chrono::steady_clock::now() + std::chrono::seconds(15));
    if (wait_for_consumer(js, o, again, until) != NATS_OK)
        throw Error(ErrorCode::kTransport, where + ": cannot make it: " + describe(add, code));
}
} // namespace

JetStreamReader::JetStreamReader(const JetStreamReaderOptions& o) : impl_(std::make_unique<Impl>()) {
    impl_->o = o;
    if (o.durable.empty()) throw Error(ErrorCode::kBadInput, "nats: a reader needs a durable consumer name");
    jsOptions jso;
    jsOptions_Init(&jso);
    jso.Wait = ms(o.nats.request_timeout_s);
    impl_->conn = std::make_unique<Connection>(o.nats, &jso);
    const std::string where = "nats " + servers_text(o.nats) + ": stream " + o.stream + ", consumer " + o.durable;
    jsConsumerInfo* ci = nullptr;
    jsErrCode code = jsErrCode(0);
    const auto look = [&] {
        code = jsErrCode(0);
        return js_GetConsumerInfo(&ci, impl_->conn->js.get(), o.stream.c_str(), o.durable.c_str(), nullptr, &code);
    };
    // a sink started before any bridge made its stream waits for it; one started while the cluster forms or elects
    // the new stream's leader asks again for a while (as the bridge does when it makes the stream)
    const auto give_up = std::chrono::steady_clock::now() + kTransientGiveUp;
    natsStatus have = look();
    for (bool said_stream = false, said_busy = false;;) {
        if (code == JSStreamNotFoundErr && o.wait_for_stream && !o.wait_for_stream->load()) {
            if (!said_stream)
                spdlog::warn("nats: stream {} does not exist yet on {}: waiting for a bridge to make it", o.stream,
                             servers_text(o.nats));
            said_stream = true;
        } else if (transient(have, code) && std::chrono::steady_clock::now() < give_up) {
            if (!said_busy) spdlog::warn("{}: not answered yet ({}); asking again", where, describe(have, code));
            said_busy = true;
        } else {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        have = look();
    }
    std::unique_ptr<jsConsumerInfo, ConsumerInfoFree> hold(ci);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = o.stream.c_str();
    if (have == NATS_OK) {
        so.Consumer = o.durable.c_str(); // resume: bound to the consumer as it stands
    } else if (code != JSConsumerNotFoundErr) {
        throw Error(ErrorCode::kTransport, where + ": " + describe(have, code));
    } else {
        so.Config.AckPolicy = js_AckExplicit;
        so.Config.AckWait = ns(o.ack_wait_s);
        so.Config.MaxAckPending = 8192;
        if (o.start_seq > 0) {
            so.Config.DeliverPolicy = js_DeliverByStartSequence;
            so.Config.OptStartSeq = o.start_seq;
        } else if (o.start_time_ns > 0) {
            so.Config.DeliverPolicy = js_DeliverByStartTime;
            so.Config.OptStartTime = o.start_time_ns;
        } else {
            so.Config.DeliverPolicy = js_DeliverAll;
        }
    }
    if (o.filter.empty() && have != NATS_OK) { // the whole stream: a consumer without a filter, made here
        so.Config.Durable = o.durable.c_str();
        make_consumer(impl_->conn->js.get(), o, so.Config, where, give_up);
        so.Consumer = o.durable.c_str();
    }
    natsSubscription* s = nullptr;
    natsStatus st = NATS_OK;
    for (;;) { // a consumer just made (here or by another reader) may not answer yet: its replicas elect a leader
        code = jsErrCode(0);
        st = js_PullSubscribe(&s, impl_->conn->js.get(), o.filter.empty() ? nullptr : o.filter.c_str(),
                              o.durable.c_str(), &jso, &so, &code);
        if (st == NATS_OK || !(transient(st, code) || (code == JSConsumerNotFoundErr && so.Consumer)) ||
            std::chrono::steady_clock::now() >= give_up)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    if (st != NATS_OK) throw Error(ErrorCode::kTransport, where + ": cannot subscribe: " + describe(st, code));
    impl_->sub.reset(s);
}

JetStreamReader::~JetStreamReader() {
    if (!impl_) return;
    impl_->unanswered.clear(); // not acknowledged: delivered again after ack_wait
    impl_->sub.reset();
    if (impl_->conn) natsConnection_Close(impl_->conn->nc.get());
}

std::vector<JetStreamReader::Received> JetStreamReader::fetch(std::chrono::milliseconds timeout) {
    natsMsgList list{nullptr, 0};
    const natsStatus s = natsSubscription_Fetch(&list, impl_->sub.get(), impl_->o.batch,
                                                std::max<std::int64_t>(1, timeout.count()), nullptr);
    std::vector<Received> out;
    if (s != NATS_OK) {
        if (s != NATS_TIMEOUT) std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(200)));
        return out;
    }
    for (int i = 0; i < list.Count; ++i) {
        MsgPtr m(list.Msgs[i]);
        list.Msgs[i] = nullptr;
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, m.get()) != NATS_OK) continue; // not a JetStream message (a status)
        Received r;
        r.subject = natsMsg_GetSubject(m.get());
        r.body.assign(natsMsg_GetData(m.get()), std::size_t(natsMsg_GetDataLength(m.get())));
        r.stream_seq = meta->Sequence.Stream;
        r.stored_ns = meta->Timestamp;
        r.pending = meta->NumPending;
        r.delivered = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
        impl_->unanswered[r.stream_seq] = std::move(m);
        out.push_back(std::move(r));
    }
    natsMsgList_Destroy(&list);
    return out;
}

void JetStreamReader::ack(std::uint64_t seq) {
    MsgPtr hold;
    if (natsMsg* m = impl_->take(seq, hold)) natsMsg_Ack(m, nullptr);
}
void JetStreamReader::nak(std::uint64_t seq, std::chrono::milliseconds delay) {
    MsgPtr hold;
    if (natsMsg* m = impl_->take(seq, hold)) natsMsg_NakWithDelay(m, delay.count(), nullptr);
}
void JetStreamReader::term(std::uint64_t seq) {
    MsgPtr hold;
    if (natsMsg* m = impl_->take(seq, hold)) natsMsg_Term(m, nullptr);
}
std::size_t JetStreamReader::unanswered() const {
    return impl_->unanswered.size();
}
bool JetStreamReader::connected() const {
    return impl_->conn->connected();
}

} // namespace sightline::transport
