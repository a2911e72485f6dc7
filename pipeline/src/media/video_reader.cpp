#include "sightline/pipeline/video_reader.hpp"

#include <atomic>

extern "C" {
#include <libavutil/hwcontext.h>
#include <libavutil/hwcontext_cuda.h>
#include <libavutil/pixdesc.h>
}

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "ffmpeg_util.hpp"
#include "media/ffmpeg_log.hpp"
#include "sightline/kernels/device.hpp"

namespace sightline::pipeline {

using detail::check_av;

namespace {
/// Decoded frames held by reference (AVFrames alive outside their decoder): what a leak of frames would grow.
std::atomic<std::int64_t> g_frames_alive{0};

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
struct InputContextDeleter {
    void operator()(AVFormatContext* f) const noexcept { avformat_close_input(&f); }
};
using InputContextPtr = std::unique_ptr<AVFormatContext, InputContextDeleter>;
} // namespace

struct VideoReader::Impl {
    /// NVDEC's copies of decoded surfaces run on this stream (not the legacy default one, which would order every
    /// camera's decoder after the detector's work); next() waits for it, so a frame is complete when it leaves.
    /// First member: destroyed after the decoder that uses it.
    std::unique_ptr<kernels::Stream> cuda_stream;
    std::string url;
    InputContextPtr fmt;
    detail::CodecContextPtr dec;
    detail::FramePtr frame;
    detail::PacketPtr pkt;
    int stream = -1;
    AVRational time_base{1, 1};
    std::int64_t index = 0;
    std::int64_t corrupt = 0;
    std::map<std::int64_t, std::int64_t> arrivals; // packet pts -> when it was read (frames come out later)
    Pacing* pacing = nullptr;
    bool eof = false;
    Decoder decoder = Decoder::kCpu;
    std::string decode_note;
    AVBufferRef* hw_device = nullptr; ///< the CUDA device (NVDEC), owned
    // the interrupt callback's state: a wait with no packet past stall_ns gives up, as does one after stop
    std::int64_t stall_ns = 0;
    std::atomic<std::int64_t> last_packet_ns{0};
    const std::atomic<bool>* stop = nullptr;
    bool stalled = false;
    ~Impl() { av_buffer_unref(&hw_device); }
    static int interrupt(void* p) {
        auto* s = static_cast<Impl*>(p);
        if (s->stop && s->stop->load()) return 1;
        if (s->stall_ns > 0 && steady_ns() - s->last_packet_ns.load() > s->stall_ns) return s->stalled = true, 1;
        return 0;
    }
    /// The error of a failed read: a stall says so (FFmpeg's own text would be "Immediate exit requested").
    void check_read(int r, const std::string& what) const {
        if (r < 0 && stalled)
            throw Error(ErrorCode::kFFmpeg, url + ": stalled: no packet for " +
                                                std::to_string(stall_ns / 1'000'000'000.0).substr(0, 4) +
                                                " s (reconnect.stall_timeout_s) while " + what);
        check_av(r, url + ": " + what);
    }
};

namespace {
/// get_format callback: the CUDA surface format when the decoder offers it (it does when NVDEC can decode this
/// stream), else the first software format: FFmpeg then decodes on the CPU, which next() notices.
AVPixelFormat pick_cuda_format(AVCodecContext*, const AVPixelFormat* formats) {
    for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f)
        if (*f == AV_PIX_FMT_CUDA) return *f;
    for (const AVPixelFormat* f = formats; *f != AV_PIX_FMT_NONE; ++f)
        if (!(av_pix_fmt_desc_get(*f)->flags & AV_PIX_FMT_FLAG_HWACCEL)) return *f;
    return AV_PIX_FMT_NONE;
}

/// Sets up NVDEC on `dec` (before avcodec_open2); returns an empty string, or why it cannot be had.
std::string try_nvdec(AVCodecContext* dec, const AVCodec* codec, AVBufferRef** device,
                      std::unique_ptr<kernels::Stream>& stream) {
    bool codec_has_cuda = false;
    for (int i = 0;; ++i) {
        const AVCodecHWConfig* c = avcodec_get_hw_config(codec, i);
        if (!c) break;
        if (c->device_type == AV_HWDEVICE_TYPE_CUDA && (c->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX))
            codec_has_cuda = true;
    }
    if (!codec_has_cuda) return std::string("FFmpeg has no CUDA (NVDEC) hardware decoding for ") + codec->name;
    if (!kernels::cuda_available()) return "no CUDA device: " + kernels::device_info().reason;
    // The primary context, handed to FFmpeg as its device context: the one the CUDA runtime (every sightline
    // kernel, LibTorch, the detector's streams) uses on device 0, whatever initialised it first and with whatever
    // flags. (av_hwdevice_ctx_create with AV_CUDA_USE_PRIMARY_CONTEXT would refuse it once active with flags other
    // than blocking sync; FFmpeg never releases a context it did not create.)
    void* primary = nullptr;
    try {
        primary = kernels::cuda_primary_context();
        stream = std::make_unique<kernels::Stream>();
    } catch (const std::exception& e) {
        return std::string("no CUDA context for NVDEC: ") + e.what();
    }
    *device = av_hwdevice_ctx_alloc(AV_HWDEVICE_TYPE_CUDA);
    if (!*device) return "out of memory allocating the CUDA device context";
    auto* hw = reinterpret_cast<AVHWDeviceContext*>((*device)->data);
    auto* cuda = static_cast<AVCUDADeviceContext*>(hw->hwctx);
    cuda->cuda_ctx = static_cast<CUcontext>(primary);
    // read by FFmpeg's NVDEC hwaccel when the decoder opens: its map-and-copy of each surface goes on our stream
    cuda->stream = static_cast<CUstream>(stream->get());
    if (const int err = av_hwdevice_ctx_init(*device); err < 0)
        return "no CUDA device for NVDEC (" + detail::av_error_string(err) + ")";
    dec->hw_device_ctx = av_buffer_ref(*device);
    if (!dec->hw_device_ctx) return "out of memory referencing the CUDA device";
    dec->get_format = pick_cuda_format;
    // No extra decode surfaces. FFmpeg 5.1 sizes NVDEC's decode surfaces as the stream's DPB + 2 (nvdec.c) + 3
    // (decode.c's work surfaces) + extra_hw_frames, and NVDEC creates at most 32: the 24 asked for here before made
    // every stream with a DPB of 4 or more (B-frames, several references, HEVC) fail to open and decode on the CPU.
    // The frames the line holds (a queue of 8 and a batch, by reference) are not decode surfaces: each is copied
    // out of its surface into a buffer of the CUDA frames pool, which grows on demand.
    dec->extra_hw_frames = 0;
    return {};
}
} // namespace

VideoReader::VideoReader(const std::string& url, int threads, Pacing* pacing,
                         const std::map<std::string, std::string>& options, Decoder decoder, double stall_timeout_s,
                         const std::atomic<bool>* stop)
    : impl_(std::make_unique<Impl>()) {
    auto& s = *impl_;
    s.url = url;
    s.pacing = pacing;
    const bool looks_like_file = url.find("://") == std::string::npos;
    if (looks_like_file && !std::filesystem::exists(url)) throw Error(ErrorCode::kNotFound, url + ": no such file");
    detail::route_ffmpeg_log();
    AVFormatContext* raw = avformat_alloc_context();
    if (!raw) throw Error(ErrorCode::kFFmpeg, url + ": out of memory");
    s.stall_ns = static_cast<std::int64_t>(stall_timeout_s * 1e9);
    s.stop = stop;
    s.last_packet_ns = steady_ns();
    raw->interrupt_callback = {&Impl::interrupt, impl_.get()};
    AVDictionary* opts = nullptr;
    for (const auto& [k, v] : options) av_dict_set(&opts, k.c_str(), v.c_str(), 0);
    if (url.rfind("rtsp://", 0) == 0 && !options.count("timeout"))
        av_dict_set(&opts, "timeout", "5000000", 0);                  // a dead camera is noticed within 5 s, not never
    int err = avformat_open_input(&raw, url.c_str(), nullptr, &opts); // frees raw on failure
    av_dict_free(&opts);
    if (err < 0) {
        if (s.stalled) s.check_read(err, "opening");
        throw Error(ErrorCode::kFFmpeg, url + ": cannot open: " + detail::av_error_string(err));
    }
    s.fmt.reset(raw);
    s.check_read(avformat_find_stream_info(raw, nullptr), "reading stream info");
    const AVCodec* codec = nullptr;
    s.stream = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (s.stream == AVERROR_STREAM_NOT_FOUND) throw Error(ErrorCode::kUnsupported, url + ": no video stream");
    if (s.stream == AVERROR_DECODER_NOT_FOUND || !codec)
        throw Error(ErrorCode::kUnsupported, url + ": no decoder for its video codec");
    check_av(s.stream, url + ": finding the video stream");
    AVStream* st = raw->streams[s.stream];
    s.time_base = st->time_base;
    s.dec.reset(avcodec_alloc_context3(codec));
    if (!s.dec) throw Error(ErrorCode::kFFmpeg, url + ": cannot allocate a decoder");
    check_av(avcodec_parameters_to_context(s.dec.get(), st->codecpar), url + ": decoder parameters");
    // Frame threads hold back (threads - 1) frames: fine for throughput, not for a live camera, whose frames must
    // leave as soon as they arrive (at 3 threads, 67 ms more from RTSP arrival to receipt, bench/README.md).
    // Network cameras and paced (live-like) files decode with slice threads only.
    const bool live = pacing || is_network_url(url);
    s.dec->thread_count = threads;
    s.dec->thread_type = live ? FF_THREAD_SLICE : FF_THREAD_FRAME | FF_THREAD_SLICE;
    if (decoder == Decoder::kNvdec) {
        s.decode_note = try_nvdec(s.dec.get(), codec, &s.hw_device, s.cuda_stream);
        if (s.decode_note.empty()) {
            s.decoder = Decoder::kNvdec;
            // the hardware does the work: CPU frame threads would only hold more surfaces back
            s.dec->thread_count = 1;
            s.dec->thread_type = 0;
        } else
            s.decode_note = url + ": decoding on the CPU: " + s.decode_note;
    }
    check_av(avcodec_open2(s.dec.get(), codec, nullptr), url + ": opening the decoder");
    s.frame.reset(av_frame_alloc());
    s.pkt.reset(av_packet_alloc());
    if (!s.frame || !s.pkt) throw Error(ErrorCode::kFFmpeg, "out of memory");
}

VideoReader::~VideoReader() = default;

namespace {

/// The planes of `v` (host or device memory, pitches kept) copied into `data`; returns the view of the copy.
kernels::ImageView copy_planes_to_host(const kernels::ImageView& v, std::vector<std::uint8_t>& data) {
    const int planes = v.format == kernels::PixelFormat::kNV12 ? 2 : v.format == kernels::PixelFormat::kBGR ? 1 : 3;
    const int ch = (v.height + 1) / 2;
    std::size_t sizes[3] = {};
    for (int k = 0; k < planes; ++k) sizes[k] = static_cast<std::size_t>(v.pitch[k]) * (k == 0 ? v.height : ch);
    data.assign(sizes[0] + sizes[1] + sizes[2], 0);
    kernels::ImageView out = v;
    out.where = kernels::MemoryLocation::kHost;
    std::size_t off = 0;
    for (int k = 0; k < planes; ++k) {
        if (v.where == kernels::MemoryLocation::kDevice)
            kernels::copy_device_to_host(data.data() + off, v.planes[k], sizes[k]);
        else
            std::memcpy(data.data() + off, v.planes[k], sizes[k]);
        out.planes[k] = data.data() + off;
        off += sizes[k];
    }
    return out;
}

} // namespace

OwnedFrame copy_frame(const DecodedFrame& f) {
    if (f.view.where != kernels::MemoryLocation::kHost)
        throw Error(ErrorCode::kUnsupported, "copy_frame: the frame is in device memory (hold it by reference)");
    OwnedFrame o;
    o.view = copy_planes_to_host(f.view, o.data);
    o.pts_ns = f.pts_ns;
    o.index = f.index;
    o.arrival_ns = f.arrival_ns;
    return o;
}

OwnedFrame keep_on_host(const OwnedFrame& f) {
    if (f.buffers && f.view.where == kernels::MemoryLocation::kHost) return f; // shared, nothing copied
    OwnedFrame o = f;
    o.buffers.reset();
    o.view = copy_planes_to_host(f.view, o.data);
    return o;
}

OwnedFrame hold_frame(const DecodedFrame& f) {
    if (!f.buffers) return copy_frame(f);
    OwnedFrame o;
    o.buffers = f.buffers;
    o.view = f.view;
    o.pts_ns = f.pts_ns;
    o.index = f.index;
    o.arrival_ns = f.arrival_ns;
    return o;
}

bool VideoReader::next(DecodedFrame& out) {
    auto& s = *impl_;
    for (;;) {
        int r = avcodec_receive_frame(s.dec.get(), s.frame.get());
        if (r == AVERROR_INVALIDDATA) { // with frame threads a bad packet surfaces here: skipped and counted
            ++s.corrupt;
            continue;
        }
        if (r == 0 && (s.frame->decode_error_flags || (s.frame->flags & AV_FRAME_FLAG_CORRUPT)))
            ++s.corrupt; // the decoder concealed damage in this frame: delivered, and counted
        if (r == 0) {
            const auto fmt = static_cast<AVPixelFormat>(s.frame->format);
            kernels::ImageView v;
            v.width = s.frame->width;
            v.height = s.frame->height;
            if (fmt == AV_PIX_FMT_CUDA) { // NVDEC: the surface stays in device memory, read in place
                const auto* frames = reinterpret_cast<const AVHWFramesContext*>(s.frame->hw_frames_ctx->data);
                if (frames->sw_format != AV_PIX_FMT_NV12) {
                    const char* name = av_get_pix_fmt_name(frames->sw_format);
                    throw Error(ErrorCode::kUnsupported, s.url + ": NVDEC surface format " + (name ? name : "?") +
                                                             " (sightline reads 8-bit 4:2:0 nv12; use decode: cpu)");
                }
                s.cuda_stream->synchronize(); // the surface's copy into this frame is done
                v.format = kernels::PixelFormat::kNV12;
                v.where = kernels::MemoryLocation::kDevice;
                for (int k = 0; k < 2; ++k) v.planes[k] = s.frame->data[k], v.pitch[k] = s.frame->linesize[k];
            } else if (fmt == AV_PIX_FMT_YUV420P || fmt == AV_PIX_FMT_YUVJ420P) {
                v.format = kernels::PixelFormat::kYUV420P;
                for (int k = 0; k < 3; ++k) v.planes[k] = s.frame->data[k], v.pitch[k] = s.frame->linesize[k];
            } else if (fmt == AV_PIX_FMT_NV12) {
                v.format = kernels::PixelFormat::kNV12;
                for (int k = 0; k < 2; ++k) v.planes[k] = s.frame->data[k], v.pitch[k] = s.frame->linesize[k];
            } else {
                const char* name = av_get_pix_fmt_name(fmt);
                throw Error(ErrorCode::kUnsupported, s.url + ": pixel format " + (name ? name : "?") +
                                                         " (sightline reads 8-bit 4:2:0: yuv420p or nv12)");
            }
            // a new reference to the same buffers (same data pointers): the decoder allocates fresh ones while it is
            // held
            AVFrame* ref = av_frame_clone(s.frame.get());
            if (!ref) throw Error(ErrorCode::kFFmpeg, s.url + ": out of memory referencing a frame");
            g_frames_alive.fetch_add(1, std::memory_order_relaxed);
            out.buffers = std::shared_ptr<const void>(ref, [](const void* p) {
                AVFrame* fr = static_cast<AVFrame*>(const_cast<void*>(p));
                av_frame_free(&fr);
                g_frames_alive.fetch_sub(1, std::memory_order_relaxed);
            });
            out.view = v;
            if (s.decoder == Decoder::kNvdec && v.where != kernels::MemoryLocation::kDevice && s.decode_note.empty())
                s.decode_note = s.url + ": decoding on the CPU: NVDEC declined this stream (no CUDA surface offered)",
                s.decoder = Decoder::kCpu;
            const std::int64_t ts = s.frame->best_effort_timestamp;
            out.arrival_ns = steady_ns();
            if (auto it = s.arrivals.find(s.frame->pts); it != s.arrivals.end()) {
                out.arrival_ns = it->second;
                s.arrivals.erase(s.arrivals.begin(), std::next(it));
            }
            out.pts_ns = (ts == AV_NOPTS_VALUE ? 0 : av_rescale_q(ts, s.time_base, AVRational{1, 1000000000})) +
                         (s.pacing ? s.pacing->offset_ns : 0);
            out.index = s.index++;
            return true;
        }
        if (r == AVERROR_EOF) return false;
        if (r != AVERROR(EAGAIN)) check_av(r, s.url + ": decoding");
        if (s.eof) return false;
        r = av_read_frame(s.fmt.get(), s.pkt.get());
        if (r >= 0) s.last_packet_ns = steady_ns();
        if (r >= 0 && s.pkt->stream_index == s.stream && s.pkt->pts != AV_NOPTS_VALUE) {
            if (s.pacing) {
                const std::int64_t t =
                    av_rescale_q(s.pkt->pts, s.time_base, AVRational{1, 1000000000}) + s.pacing->offset_ns;
                if (s.pacing->first_pts_ns < 0) s.pacing->first_pts_ns = t;
                std::this_thread::sleep_until(s.pacing->start + std::chrono::nanoseconds(t - s.pacing->first_pts_ns));
            }
            if (s.arrivals.size() < 1024) s.arrivals[s.pkt->pts] = steady_ns();
        }
        if (r == AVERROR_EOF) {
            s.eof = true;
            check_av(avcodec_send_packet(s.dec.get(), nullptr), s.url + ": flushing the decoder");
            continue;
        }
        s.check_read(r, "reading a packet");
        if (s.pkt->stream_index == s.stream) {
            r = avcodec_send_packet(s.dec.get(), s.pkt.get());
            if (r == AVERROR_INVALIDDATA)
                ++s.corrupt; // skipped and counted, never fatal
            else if (r < 0 && r != AVERROR(EAGAIN))
                check_av(r, s.url + ": decoding a packet");
        }
        av_packet_unref(s.pkt.get());
    }
}

int VideoReader::width() const {
    return impl_->dec->width;
}
int VideoReader::height() const {
    return impl_->dec->height;
}
double VideoReader::fps() const {
    const AVRational r = impl_->fmt->streams[impl_->stream]->avg_frame_rate;
    return r.den ? av_q2d(r) : 0.0;
}
std::int64_t ffmpeg_frames_alive() {
    return g_frames_alive.load(std::memory_order_relaxed);
}

std::int64_t VideoReader::corrupt_packets() const {
    return impl_->corrupt;
}
Decoder VideoReader::decoder() const {
    return impl_->decoder;
}
const std::string& VideoReader::decode_note() const {
    return impl_->decode_note;
}
const std::string& VideoReader::url() const {
    return impl_->url;
}

} // namespace sightline::pipeline
