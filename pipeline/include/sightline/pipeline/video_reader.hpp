#pragma once
/// Sequential decoding of a video file or URL with the FFmpeg libraries: software decode (frame threads), or NVDEC
/// into device memory where asked for and available.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sightline/kernels/views.hpp"

namespace sightline::pipeline {

/// Whether `url` names a network stream (rtsp://, udp://, http://, ...: anything with a scheme) rather than a file.
inline bool is_network_url(std::string_view url) {
    return url.find("://") != std::string_view::npos;
}

struct DecodedFrame {
    kernels::ImageView view; ///< valid until the next call to next() (the decoder's own buffer, no copy)
    /// A reference to the decoder's buffers (FFmpeg's refcounted frame): while a copy of it lives, `view`'s planes
    /// stay valid past next(), without copying them (hold_frame). Null from sources that cannot lend them.
    std::shared_ptr<const void> buffers;
    std::int64_t pts_ns = 0;     ///< presentation time from the stream, nanoseconds
    std::int64_t arrival_ns = 0; ///< steady-clock time the frame's packet was read from the stream
    std::int64_t index = 0;      ///< 0-based decode-order index
};

/// A decoded frame that stays valid past the next VideoReader::next(): it either holds a reference to the
/// decoder's buffers (hold_frame: no copy) or its own copy of the planes (copy_frame).
struct OwnedFrame {
    std::vector<std::uint8_t> data;      ///< the copy (copy_frame), else empty
    std::shared_ptr<const void> buffers; ///< the reference (hold_frame), else null
    kernels::ImageView view;             ///< points into `data` or the referenced buffers
    std::int64_t pts_ns = 0;
    std::int64_t arrival_ns = 0;
    std::int64_t decoded_ns = 0; ///< set by whoever decoded it (0 from copy_frame)
    std::int64_t index = 0;      ///< 0-based decode-order index in its source (DecodedFrame::index)
};

/// Copies a decoded frame's planes (pitches kept) into an OwnedFrame.
OwnedFrame copy_frame(const DecodedFrame& frame);

/// An OwnedFrame that stays valid on its own in host memory: a frame held by reference to host buffers shares
/// them, a copied one is copied (its view re-pointed), one in device memory (NVDEC) is copied back to the host
/// (its planes, one copy each): what a sample keeps of a frame after the line moved on.
OwnedFrame keep_on_host(const OwnedFrame& frame);

/// Keeps a decoded frame by reference to its buffers when the source lent them (no copy), else copies it.
OwnedFrame hold_frame(const DecodedFrame& frame);

/// Real-time pacing of a file, as `ffmpeg -re`: each packet is released at start + (its pts - the first pts), so
/// a file behaves like a live camera. `offset_ns` is added to every pts (a looped file continues its timeline).
struct Pacing {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::int64_t first_pts_ns = -1;
    std::int64_t offset_ns = 0;
};

/// Where a reader decodes. kNvdec: FFmpeg's CUDA hardware decoding (NVDEC) on the CUDA primary context, the
/// context sightline's kernels use, so frames stay in device memory (NV12, pitched, ImageView::where = kDevice)
/// and the preprocess kernel reads them in place. Where that cannot be had (no driver or GPU, a build without
/// CUDA, a codec or profile NVDEC does not decode), the reader decodes on the CPU and says why (decode_note()).
enum class Decoder { kCpu, kNvdec };

/// Decoded frames held by reference in this process now (FFmpeg AVFrames alive past their decoder's next frame:
/// the line's queues, batches and samples hold them): flat over a long run, or frames leak (`stat`'s
/// ffmpeg_frames_alive, the soak benchmark).
std::int64_t ffmpeg_frames_alive();

class VideoReader {
  public:
    /// Opens `url` (a path or any FFmpeg URL). Throws Error naming the input: kNotFound for a missing file,
    /// kUnsupported when there is no video stream or no decoder, kFFmpeg otherwise.
    /// `pacing`: null reads as fast as possible; else packets are released in real time (the reader keeps the
    /// pointer; it must outlive the reader). Frame pts_ns include pacing->offset_ns.
    /// `options`: FFmpeg demuxer/protocol options (e.g. rtsp_transport=tcp, timeout in microseconds).
    /// `decoder`: see Decoder; a kNvdec request that cannot be met falls back to the CPU (never an error).
    /// `stall_timeout_s` > 0: opening, or reading a packet, that gets nothing for this long gives up (Error(kFFmpeg)
    /// saying it stalled), whatever the protocol; `stop`: set, any wait gives up at once (a run ending).
    explicit VideoReader(const std::string& url, int threads = 0, Pacing* pacing = nullptr,
                         const std::map<std::string, std::string>& options = {}, Decoder decoder = Decoder::kCpu,
                         double stall_timeout_s = 0, const std::atomic<bool>* stop = nullptr);
    ~VideoReader();
    VideoReader(const VideoReader&) = delete;
    VideoReader& operator=(const VideoReader&) = delete;

    /// Decodes the next frame; false at the end of the stream. Corrupt packets are skipped and counted.
    bool next(DecodedFrame& frame);
    int width() const;
    int height() const;
    double fps() const;
    std::int64_t corrupt_packets() const;
    /// Where frames are decoded (kNvdec only when the hardware decoder was set up).
    Decoder decoder() const;
    /// Why a kNvdec request decodes on the CPU (one line for the log), else empty.
    const std::string& decode_note() const;
    const std::string& url() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace sightline::pipeline
