#include "sightline/pipeline/video_writer.hpp"

extern "C" {
#include <libavutil/opt.h>
}

#include <cstring>
#include <system_error>

#include "ffmpeg_util.hpp"
#include "media/ffmpeg_log.hpp"

namespace sightline::pipeline {

using detail::check_av;

namespace {
struct OutputContextDeleter {
    void operator()(AVFormatContext* f) const noexcept {
        if (f->pb) avio_closep(&f->pb);
        avformat_free_context(f);
    }
};
using OutputContextPtr = std::unique_ptr<AVFormatContext, OutputContextDeleter>;
} // namespace

struct VideoWriter::Impl {
    std::filesystem::path path;
    std::filesystem::path tmp_path;
    VideoWriterOptions opt;
    OutputContextPtr fmt;
    detail::CodecContextPtr enc;
    detail::FramePtr frame;
    detail::PacketPtr pkt;
    AVStream* stream = nullptr;
    std::int64_t next_pts = 0;
    bool finished = false;

    void drain(bool flush) {
        if (flush) check_av(avcodec_send_frame(enc.get(), nullptr), path.string() + ": flushing the encoder");
        for (;;) {
            int r = avcodec_receive_packet(enc.get(), pkt.get());
            if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
            check_av(r, path.string() + ": encoding");
            av_packet_rescale_ts(pkt.get(), enc->time_base, stream->time_base);
            pkt->stream_index = stream->index;
            check_av(av_interleaved_write_frame(fmt.get(), pkt.get()), path.string() + ": writing a packet");
        }
    }
};

VideoWriter::VideoWriter(std::filesystem::path path, const VideoWriterOptions& options)
    : impl_(std::make_unique<Impl>()) {
    auto& s = *impl_;
    s.path = std::move(path);
    s.tmp_path = s.path;
    s.tmp_path += ".partial";
    s.opt = options;
    if (options.width <= 0 || options.height <= 0 || options.width % 2 || options.height % 2)
        throw Error(ErrorCode::kBadInput, s.path.string() + ": frame size must be positive and even, got " +
                                              std::to_string(options.width) + "x" + std::to_string(options.height));
    if (options.fps <= 0) throw Error(ErrorCode::kBadInput, s.path.string() + ": fps must be positive");

    detail::route_ffmpeg_log(); // errors only: x264 prints its settings and statistics at info level
    const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
    if (!codec) throw Error(ErrorCode::kUnsupported, "no H.264 encoder in this FFmpeg build");

    AVFormatContext* raw = nullptr;
    if (options.container != "mp4" && options.container != "mpegts")
        throw Error(ErrorCode::kBadInput, s.path.string() + ": container " + options.container + " (mp4 or mpegts)");
    check_av(avformat_alloc_output_context2(&raw, nullptr, options.container.c_str(), s.tmp_path.c_str()),
             s.path.string() + ": creating the " + options.container + " muxer");
    s.next_pts = options.first_pts;
    s.fmt.reset(raw);
    s.fmt->flags |= AVFMT_FLAG_BITEXACT; // no library version strings: same input, same bytes

    s.enc.reset(avcodec_alloc_context3(codec));
    if (!s.enc) throw Error(ErrorCode::kFFmpeg, s.path.string() + ": cannot allocate the encoder");
    auto& e = *s.enc;
    e.width = options.width;
    e.height = options.height;
    e.time_base = AVRational{1, options.fps};
    e.framerate = AVRational{options.fps, 1};
    e.pix_fmt = AV_PIX_FMT_YUV420P;
    e.gop_size = options.gop;
    e.max_b_frames = 0; // IP cameras send no B-frames: decode order = display order
    e.thread_count = options.threads;
    e.color_range = AVCOL_RANGE_MPEG;
    e.colorspace = AVCOL_SPC_SMPTE170M;
    e.color_primaries = AVCOL_PRI_SMPTE170M;
    e.color_trc = AVCOL_TRC_SMPTE170M;
    e.flags |= AV_CODEC_FLAG_BITEXACT;
    if (s.fmt->oformat->flags & AVFMT_GLOBALHEADER) e.flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    av_opt_set(e.priv_data, "preset", options.preset.c_str(), 0);
    av_opt_set(e.priv_data, "tune", "zerolatency", 0); // as a live camera: no lookahead, no frame delay
    av_opt_set_int(e.priv_data, "crf", options.crf, 0);
    check_av(avcodec_open2(&e, codec, nullptr), s.path.string() + ": opening the H.264 encoder");

    s.stream = avformat_new_stream(s.fmt.get(), nullptr);
    if (!s.stream) throw Error(ErrorCode::kFFmpeg, s.path.string() + ": cannot add a stream");
    s.stream->time_base = e.time_base;
    s.stream->avg_frame_rate = e.framerate;
    check_av(avcodec_parameters_from_context(s.stream->codecpar, &e), s.path.string() + ": codec parameters");

    check_av(avio_open(&s.fmt->pb, s.tmp_path.c_str(), AVIO_FLAG_WRITE), s.tmp_path.string() + ": opening for writing");
    check_av(avformat_write_header(s.fmt.get(), nullptr), s.path.string() + ": writing the header");

    s.frame.reset(av_frame_alloc());
    s.pkt.reset(av_packet_alloc());
    if (!s.frame || !s.pkt) throw Error(ErrorCode::kFFmpeg, "out of memory allocating frame/packet");
    s.frame->format = e.pix_fmt;
    s.frame->width = e.width;
    s.frame->height = e.height;
    check_av(av_frame_get_buffer(s.frame.get(), 0), s.path.string() + ": frame buffer");
}

VideoWriter::~VideoWriter() {
    if (impl_ && !impl_->finished) {
        impl_->fmt.reset(); // closes the file before it is removed
        std::error_code ec;
        std::filesystem::remove(impl_->tmp_path, ec);
    }
}

void VideoWriter::write_i420(const std::uint8_t* i420) {
    auto& s = *impl_;
    SL_ASSERT(!s.finished);
    check_av(av_frame_make_writable(s.frame.get()), s.path.string() + ": frame buffer");
    const int w = s.opt.width, h = s.opt.height;
    const std::uint8_t* src = i420;
    for (int plane = 0; plane < 3; ++plane) {
        const int pw = plane ? w / 2 : w, ph = plane ? h / 2 : h;
        for (int y = 0; y < ph; ++y) std::memcpy(s.frame->data[plane] + y * s.frame->linesize[plane], src + y * pw, pw);
        src += static_cast<std::size_t>(pw) * ph;
    }
    s.frame->pts = s.next_pts++;
    check_av(avcodec_send_frame(s.enc.get(), s.frame.get()), s.path.string() + ": encoding frame");
    s.drain(false);
}

void VideoWriter::finish() {
    auto& s = *impl_;
    if (s.finished) return;
    s.drain(true);
    check_av(av_write_trailer(s.fmt.get()), s.path.string() + ": writing the trailer");
    s.fmt.reset();
    std::error_code ec;
    std::filesystem::rename(s.tmp_path, s.path, ec);
    if (ec)
        throw Error(ErrorCode::kIo,
                    s.path.string() + ": cannot rename from " + s.tmp_path.string() + ": " + ec.message());
    s.finished = true;
}

} // namespace sightline::pipeline
