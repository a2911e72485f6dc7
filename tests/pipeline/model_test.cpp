// The committed demo model: model.yaml contract, OpenCV DNN parity with PyTorch, and detection on real frames.
#include <gtest/gtest.h>

#include "support/gpu.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>
#ifdef SIGHTLINE_TEST_IMGCODECS
#include <opencv2/imgcodecs.hpp>
#endif

#include "sightline/error.hpp"
#include "sightline/kernels/device.hpp"
#include "sightline/pipeline/coco.hpp"
#include "sightline/pipeline/detector.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/pipeline/synth.hpp"

using namespace sightline;
namespace fs = std::filesystem;

namespace {

/// A view of an OpenCV BGR image (host memory).
kernels::ImageView bgr_view(const cv::Mat& m) {
    kernels::ImageView v;
    v.format = kernels::PixelFormat::kBGR, v.width = m.cols, v.height = m.rows;
    v.planes[0] = m.data, v.pitch[0] = static_cast<int>(m.step);
    return v;
}

/// The engine's head for a host input, copied out.
std::vector<float> infer_host(pipeline::Engine& engine, const std::vector<float>& input, int batch) {
    const auto head = engine.infer({input.data(), input.size(), kernels::MemoryLocation::kHost}, batch).host();
    return {head.begin(), head.end()};
}

const fs::path kRoot = SIGHTLINE_SOURCE_DIR;
const fs::path kModel = kRoot / "models/parts-v1/model.yaml";

/// The training script's two real letterboxed frames (BGR) and the model's input made of them (RGB planes,
/// pixel / 255 as in model.yaml, batch 2). The frames are read from their raw copies (input*.bgr: W x H x 3 bytes),
/// so a build without OpenCV's imgcodecs (the GPU machine's) runs the parity tests too; where imgcodecs exists the
/// raw copies are checked equal to the PNGs the training script wrote.
struct FixtureFrames {
    std::vector<cv::Mat> bgr;
    std::vector<float> input;
};
FixtureFrames fixture_frames(int W, int H) {
    FixtureFrames f;
    f.input.resize(2ull * 3 * W * H);
    for (int k = 0; k < 2; ++k) {
        const fs::path raw = kRoot / "tests/fixtures/model" / ("input" + std::to_string(k) + ".bgr");
        std::ifstream in(raw, std::ios::binary);
        cv::Mat bgr(H, W, CV_8UC3);
        in.read(reinterpret_cast<char*>(bgr.data), static_cast<std::streamsize>(bgr.total() * 3));
        if (!in) throw std::runtime_error(raw.string() + ": not " + std::to_string(W) + "x" + std::to_string(H) + "x3");
#ifdef SIGHTLINE_TEST_IMGCODECS
        const cv::Mat png =
            cv::imread((kRoot / "tests/fixtures/model" / ("input" + std::to_string(k) + ".png")).string());
        if (png.size() != bgr.size() || cv::norm(png, bgr, cv::NORM_INF) != 0)
            throw std::runtime_error(raw.string() + " differs from its PNG");
#endif
        f.bgr.push_back(bgr);
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < H; ++y)
                for (int x = 0; x < W; ++x)
                    f.input[((k * 3ull + c) * H + y) * W + x] = bgr.at<cv::Vec3b>(y, x)[2 - c] / 255.0f;
    }
    return f;
}

/// The worst difference of an engine's head on the fixture frames from PyTorch's (tests/fixtures/model), relative to
/// max(1, |value|) (boxes are in input pixels); fails the test when the sizes differ.
double worst_vs_pytorch(const std::vector<float>& out) {
    std::ifstream f(kRoot / "tests/fixtures/model/expected_output.f32", std::ios::binary);
    std::vector<float> expected(out.size());
    f.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));
    EXPECT_TRUE(f) << "fixture has fewer values than the model's output";
    double worst = 0;
    for (std::size_t i = 0; i < out.size(); ++i)
        worst = std::max(worst, double(std::abs(out[i] - expected[i])) / std::max(1.0, double(std::abs(expected[i]))));
    return worst;
}

/// Two detectors on the fixture frames: the same detections (class, score to 1e-4, box to 1e-2 px).
void expect_same_detections(pipeline::Detector& a, pipeline::Detector& b, const FixtureFrames& fx) {
    for (const auto& bgr : fx.bgr) {
        const kernels::ImageView v = bgr_view(bgr);
        const auto da = a.detect(std::span(&v, 1))[0].detections, db = b.detect(std::span(&v, 1))[0].detections;
        ASSERT_EQ(da.size(), db.size());
        ASSERT_GT(da.size(), 0u);
        for (std::size_t k = 0; k < da.size(); ++k) {
            EXPECT_EQ(da[k].cls, db[k].cls);
            EXPECT_NEAR(da[k].score, db[k].score, 1e-4);
            EXPECT_NEAR(da[k].x1, db[k].x1, 1e-2);
            EXPECT_NEAR(da[k].y2, db[k].y2, 1e-2);
        }
    }
}

TEST(ModelSpec, CommittedModelLoads) {
    auto m = pipeline::load_model_spec(kModel);
    EXPECT_EQ(m.name, "parts-v1");
    EXPECT_EQ(m.classes, (std::vector<std::string>{"bolt", "nut", "washer", "bracket", "defect"}));
    EXPECT_EQ(m.preprocess.input_width, 320);
    EXPECT_EQ(m.preprocess.input_height, 256);
    EXPECT_EQ(m.layout, kernels::HeadLayout::kYoloV8);
    EXPECT_LT(fs::file_size(m.onnx_path), 5u << 20) << "the demo model must stay under 5 MB";
    EXPECT_TRUE(m.parent.empty());
    // parts-v2, fine-tuned from it (tools/train/finetune.py): a class more, its lineage read
    const auto v2 = pipeline::load_model_spec(kRoot / "models/parts-v2/model.yaml");
    EXPECT_EQ(v2.name, "parts-v2");
    EXPECT_EQ(v2.parent, "parts-v1@1.0.0");
    EXPECT_EQ(v2.classes, (std::vector<std::string>{"bolt", "nut", "washer", "bracket", "defect", "gear"}));
    EXPECT_EQ(pipeline::make_opencv_engine(v2)->describe().empty(), false);
}

TEST(ModelSpec, BadYamlNamesFileAndKey) {
    const auto dir = fs::temp_directory_path() / ("sightline_model_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ifstream src(kModel);
    std::string good((std::istreambuf_iterator<char>(src)), {});
    fs::copy_file(kRoot / "models/parts-v1/model.onnx", dir / "model.onnx", fs::copy_options::overwrite_existing);
    struct Bad {
        std::string from, to, message;
    };
    const Bad bad[] = {
        {"layout: yolov8", "layout: yolov9", "output.layout: expected yolov8, yolov5 or yolov8_dfl"},
        {"color: rgb", "colour: rgb", "input.colour: unknown key"},
        {"width: 320", "width: wide", "input.width: wrong type"},
        {"file: model.onnx", "file: nothere.onnx", "nothere.onnx: no such file"},
        {"classes:", "clases:", "clases: unknown key"},
        {"confidence: 0.25", "confidence: 1.5", "thresholds.confidence: must be in [0, 1)"},
        {"name: parts-v1", "name: [parts", "malformed YAML"},
        {"classes:", "lineage: [parts-v0]\nclasses:", "lineage: expected a map"},
        {"classes:", "lineage: {parent: [a]}\nclasses:", "lineage.parent: wrong type"},
    };
    for (const auto& b : bad) {
        auto text = good;
        auto at = text.find(b.from);
        ASSERT_NE(at, std::string::npos) << b.from;
        text.replace(at, b.from.size(), b.to);
        std::ofstream(dir / "model.yaml") << text;
        try {
            pipeline::load_model_spec(dir / "model.yaml");
            ADD_FAILURE() << "accepted " << b.to;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("model.yaml"), std::string::npos) << e.what();
        }
    }
    // Only one of file: and torchscript: is needed; neither is an error; an engine without its file says so.
    {
        auto text = good;
        text.replace(text.find("file: model.onnx"), 16, "");
        std::ofstream(dir / "model.yaml") << text;
        const auto m = pipeline::load_model_spec(dir / "model.yaml");
        EXPECT_TRUE(m.onnx_path.empty());
        try {
            pipeline::make_opencv_engine(m);
            ADD_FAILURE() << "the OpenCV engine ran a model with no file:";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("no file: key"), std::string::npos) << e.what();
        }
        const auto ts = text.find("torchscript:");
        text.replace(ts, text.find('\n', ts) - ts, "");
        std::ofstream(dir / "model.yaml") << text;
        EXPECT_THROW(pipeline::load_model_spec(dir / "model.yaml"), Error) << "neither file: nor torchscript:";
    }
    // A corrupt model file is a clear error at load, not a crash.
    std::ofstream(dir / "model.yaml") << good;
    std::ofstream(dir / "model.onnx", std::ios::binary) << std::string(1000, '\x07');
    EXPECT_THROW(pipeline::make_opencv_engine(pipeline::load_model_spec(dir / "model.yaml")), Error);
    fs::remove_all(dir);
}

// The training script saved two real letterboxed frames and PyTorch's output on them (batch 2).
TEST(ModelParity, OpenCvDnnReproducesPyTorch) {
    auto spec = pipeline::load_model_spec(kModel);
    auto engine = pipeline::make_opencv_engine(spec);
    const auto fx = fixture_frames(spec.preprocess.input_width, spec.preprocess.input_height);
    const auto out = infer_host(*engine, fx.input, 2);
    std::ifstream f(kRoot / "tests/fixtures/model/expected_output.f32", std::ios::binary);
    std::vector<float> expected(out.size());
    f.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));
    ASSERT_TRUE(f) << "fixture has fewer values than the model's output";
    f.peek();
    EXPECT_TRUE(f.eof()) << "fixture has more values than the model's output";
    double worst = 0;
    for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, double(std::abs(out[i] - expected[i])));
    EXPECT_LT(worst, 1e-4);
}

// The LibTorch engine (TorchScript export, tools/train/export_torchscript.py) on the same two real frames: the
// PyTorch model's own output, and the same detections as the ONNX model through OpenCV DNN.
TEST(ModelParity, LibTorchReproducesPyTorchAndOpenCv) {
    SL_GPU_SKIP_UNLESS(pipeline::libtorch_available(), "this build has no LibTorch engine (no libtorch-dev)");
    auto spec = pipeline::load_model_spec(kModel);
    ASSERT_FALSE(spec.torchscript_path.empty());
    // on a GPU, fp32 as PyTorch's reference ran (TF32 would move convolutions by about 1e-3 relative)
    pipeline::set_libtorch_tf32(false);
    auto torch_engine = pipeline::make_libtorch_engine(spec, 2);
    EXPECT_NE(torch_engine->describe().find("LibTorch"), std::string::npos) << torch_engine->describe();
    const auto fx = fixture_frames(spec.preprocess.input_width, spec.preprocess.input_height);
    EXPECT_LT(worst_vs_pytorch(infer_host(*torch_engine, fx.input, 2)), 1e-4);

    // the detector on either engine: the same detections
    pipeline::Detector a(pipeline::make_opencv_engine(spec)), b(pipeline::make_engine("libtorch", spec));
    expect_same_detections(a, b, fx);
    pipeline::set_libtorch_tf32(true); // LibTorch's default again for the tests after this one
    EXPECT_THROW(pipeline::make_engine("tensorrt", spec), Error);
}

// A genuine Ultralytics YOLOv8 export (tests/fixtures/ultralytics), which Debian's OpenCV 4.6 cannot run whole: cut at
// its raw head (output.cut, libonnx), run by OpenCV, it gives onnxruntime's raw head on the same input, and the
// detector's DFL decode of it gives Ultralytics' own decoded boxes and scores (output0 from onnxruntime).
TEST(ModelParity, UltralyticsExportCutAtTheRawHead) {
    const fs::path dir = kRoot / "tests/fixtures/ultralytics";
    auto spec = pipeline::load_model_spec(dir / "model.yaml");
    EXPECT_EQ(spec.layout, kernels::HeadLayout::kYoloV8Dfl);
    EXPECT_EQ(pipeline::head_fields(spec), 69);
    auto read = [&](const char* name, std::size_t n) {
        std::vector<float> v(n);
        std::ifstream f(dir / name, std::ios::binary);
        f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
        EXPECT_TRUE(f) << name;
        return v;
    };
    const int N = 1680;
    const auto input = read("input.f32", 3ull * 256 * 320);
    const auto raw = read("raw.f32", 69ull * N);
    const auto ref = read("output0.f32", 9ull * N);
    auto engine = pipeline::make_opencv_engine(spec);
    const auto out = infer_host(*engine, input, 1);
    ASSERT_EQ(out.size(), raw.size());
    double worst = 0;
    for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, double(std::abs(out[i] - raw[i])));
    EXPECT_LT(worst, 1e-3) << "OpenCV 4.6 on the cut graph vs onnxruntime";
    // the detector's decode on OpenCV's raw head: Ultralytics' boxes for the best candidates
    kernels::DecodeParams p;
    p.layout = spec.layout, p.num_classes = 5, p.num_candidates = N, p.top_k = 50, p.reg_max = spec.reg_max;
    p.input_width = 320, p.input_height = 256, p.confidence_threshold = 0.f;
    std::vector<kernels::Candidate> cand(50);
    int count = 0;
    kernels::decode_cpu(out.data(), 1, p, cand.data(), &count);
    ASSERT_EQ(count, 50);
    for (const auto& c : cand) {
        EXPECT_NEAR((c.x1 + c.x2) / 2, ref[0 * N + c.index], 5e-3) << c.index;
        EXPECT_NEAR(c.y2 - c.y1, ref[3 * N + c.index], 5e-3) << c.index;
        EXPECT_NEAR(c.score, ref[(4 + c.cls) * N + c.index], 1e-5) << c.index;
    }
}

// The OpenVINO engine (the openvino wheel's CPU plugin) on the same two real frames: PyTorch's output and OpenCV
// DNN's detections; on the Ultralytics export cut at its raw head (output.cut, cut by OpenVINO's own graph API),
// onnxruntime's raw head. A bad file is a clear error naming it.
TEST(ModelParity, OpenVinoReproducesPyTorchOpenCvAndOnnxRuntime) {
    if (!pipeline::openvino_available()) GTEST_SKIP() << "this build has no OpenVINO engine (no openvino wheel)";
    auto spec = pipeline::load_model_spec(kModel);
    auto engine = pipeline::make_openvino_engine(spec, 2);
    EXPECT_NE(engine->describe().find("OpenVINO"), std::string::npos) << engine->describe();
    const auto fx = fixture_frames(spec.preprocess.input_width, spec.preprocess.input_height);
    const std::vector<float> out = infer_host(*engine, fx.input, 2);
    EXPECT_LT(worst_vs_pytorch(out), 1e-4);
    // batches of 1 and 2 from one compiled model (the batch is dynamic)
    const std::vector<float> one =
        infer_host(*engine, std::vector<float>(fx.input.begin(), fx.input.begin() + fx.input.size() / 2), 1);
    ASSERT_EQ(one.size(), out.size() / 2);
    for (std::size_t i = 0; i < one.size(); ++i) ASSERT_NEAR(one[i], out[i], 1e-4 * std::max(1.f, std::abs(out[i])));
    // a batch of 4 is split over the requests in flight (the throughput hint's streams): every frame's head is the
    // one it has alone, bit for bit, wherever it sat in the batch
    const std::size_t per = fx.input.size() / 2;
    const std::vector<float> second =
        infer_host(*engine, std::vector<float>(fx.input.begin() + per, fx.input.end()), 1);
    std::vector<float> four;
    for (int f : {0, 1, 1, 0}) four.insert(four.end(), fx.input.begin() + f * per, fx.input.begin() + (f + 1) * per);
    const std::vector<float> out4 = infer_host(*engine, four, 4);
    ASSERT_EQ(out4.size(), 2 * out.size());
    const std::size_t head = one.size();
    for (int k = 0; k < 4; ++k) {
        const std::vector<float>& alone = (k == 0 || k == 3) ? one : second;
        EXPECT_TRUE(std::equal(alone.begin(), alone.end(), out4.begin() + k * head)) << "frame " << k << " of 4";
    }

    pipeline::Detector a(pipeline::make_opencv_engine(spec)), b(pipeline::make_engine("openvino", spec));
    expect_same_detections(a, b, fx);

    const fs::path dir = kRoot / "tests/fixtures/ultralytics";
    auto uspec = pipeline::load_model_spec(dir / "model.yaml");
    const auto read = [&](const char* name, std::size_t n) {
        std::vector<float> v(n);
        std::ifstream in(dir / name, std::ios::binary);
        in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(float)));
        EXPECT_TRUE(in) << name;
        return v;
    };
    const auto uin = read("input.f32", 3ull * 256 * 320), raw = read("raw.f32", 69ull * 1680);
    const auto uout = infer_host(*pipeline::make_openvino_engine(uspec), uin, 1);
    ASSERT_EQ(uout.size(), raw.size());
    double uworst = 0;
    for (std::size_t i = 0; i < uout.size(); ++i) uworst = std::max(uworst, double(std::abs(uout[i] - raw[i])));
    EXPECT_LT(uworst, 1e-3) << "OpenVINO on the cut graph vs onnxruntime";
    // the fixed-batch-1 export takes a batch of 2, frame by frame on requests side by side: each as alone
    auto uengine = pipeline::make_openvino_engine(uspec);
    ASSERT_TRUE(uengine->batches_fixed_export());
    std::vector<float> utwo(uin);
    utwo.insert(utwo.end(), uin.begin(), uin.end());
    const auto uout2 = infer_host(*uengine, utwo, 2);
    ASSERT_EQ(uout2.size(), 2 * uout.size());
    EXPECT_TRUE(std::equal(uout.begin(), uout.end(), uout2.begin()));
    EXPECT_TRUE(std::equal(uout.begin(), uout.end(), uout2.begin() + uout.size()));

    auto bad = uspec;
    bad.cut = "no_such_tensor";
    EXPECT_THROW(
        {
            try {
                pipeline::make_openvino_engine(bad);
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find("no tensor 'no_such_tensor'"), std::string::npos) << e.what();
                throw;
            }
        },
        Error);
    auto garbage = spec;
    const fs::path junk = fs::temp_directory_path() / "sightline-ov-junk.onnx";
    std::ofstream(junk, std::ios::binary) << std::string(1000, '\x07');
    garbage.onnx_path = junk;
    try {
        pipeline::make_openvino_engine(garbage);
        ADD_FAILURE() << "OpenVINO accepted a corrupt file";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(junk.string()), std::string::npos) << e.what();
    }
    fs::remove(junk);
}

// The whole CPU compute path on frames rendered here: nominal frames are found, boxes land on the parts.
TEST(Detector, FindsPartsOnNominalFrames) {
    const auto model = pipeline::load_model_spec(kModel);
    pipeline::Detector det(pipeline::make_opencv_engine(model));
    auto spec = pipeline::synth::make_specs(1, "", "test", {})[0];
    pipeline::synth::CameraRenderer r(spec, 777, 0);
    cv::Mat frame(spec.height, spec.width, CV_8UC3);
    // the rendered frames' ground truth as COCO (category k + 1 is the model's class k), matched by the online
    // evaluator's matcher at IoU 0.5
    pipeline::CocoGroundTruth gt;
    gt.source = "rendered frames";
    for (std::size_t k = 0; k < model.classes.size(); ++k) gt.categories.push_back({int(k) + 1, model.classes[k]});
    std::vector<std::pair<int, std::vector<pipeline::Detection>>> detected;
    for (int k = 0; k < 40; ++k) {
        auto info = r.next(frame.data);
        if (k % 8) continue;
        const kernels::ImageView v = bgr_view(frame);
        auto res = det.detect(std::span(&v, 1));
        gt.images.push_back({k, spec.width, spec.height, {}});
        for (const auto& o : info.objects)
            gt.annotations.push_back({std::int64_t(gt.annotations.size()) + 1, k, int(o.cls) + 1,
                                      kernels::BoxXywh{double(o.x), double(o.y), double(o.w), double(o.h)},
                                      double(o.w) * o.h, o.crowd});
        detected.emplace_back(k, res[0].detections);
        EXPECT_GT(res[0].luma.mean, 20);
    }
    pipeline::OnlineEvaluator matcher(gt, "cam1", model.classes, 60, 0.5);
    long tp = 0, fp = 0, fn = 0;
    for (const auto& [k, dets] : detected) {
        const auto m = matcher.match(k, dets);
        ASSERT_TRUE(m) << "frame " << k;
        tp += m->tp, fp += m->fp, fn += m->fn;
    }
    const double recall = double(tp) / (tp + fn), precision = double(tp) / (tp + fp);
    EXPECT_GT(recall, 0.9) << tp << " tp " << fn << " fn";
    EXPECT_GT(precision, 0.9) << tp << " tp " << fp << " fp";
}

// Frames in device memory (as NVDEC gives them: NV12, pitched) go through the CUDA preprocess and give the same
// detections as the same frames in host memory through the CPU twin: every box matched at IoU >= 0.99, scores
// within 1e-3, the same luma statistics. Needs a GPU.
// With LibTorch on the same GPU, the engine reads the preprocessed tensor in device memory (no host copy): same
// detections again.
// Batches in flight: two submitted, collected in either order, each gives what detect() gives for it alone; a third
// while two are out, or a ticket not in flight, is a clear error (the host path: nothing runs after submit()).
TEST(Detector, BatchesInFlightGiveWhatDetectGives) {
    pipeline::Detector det(pipeline::make_opencv_engine(pipeline::load_model_spec(kModel)));
    auto spec = pipeline::synth::make_specs(1, "", "test", {})[0];
    pipeline::synth::CameraRenderer r(spec, 99, 0);
    std::vector<cv::Mat> frames;
    for (int k = 0; k < 3; ++k) {
        frames.emplace_back(spec.height, spec.width, CV_8UC3);
        r.next(frames.back().data);
    }
    std::vector<kernels::ImageView> views;
    for (const auto& f : frames) views.push_back(bgr_view(f));
    const auto a_alone = det.detect(std::span(views).subspan(0, 2));
    const auto b_alone = det.detect(std::span(views).subspan(2, 1));
    const auto a = det.submit(std::span(views).subspan(0, 2));
    const auto b = det.submit(std::span(views).subspan(2, 1));
    EXPECT_FALSE(det.running(a)) << "the host path finishes in submit()";
    EXPECT_THROW(det.submit(std::span(views).subspan(0, 1)), Error) << "two already in flight";
    const auto b_res = det.collect(b);
    const auto a_res = det.collect(a);
    EXPECT_THROW(det.collect(a), Error) << "collected already";
    ASSERT_EQ(a_res.size(), 2u);
    ASSERT_EQ(b_res.size(), 1u);
    const auto same = [](const std::vector<pipeline::FrameResult>& x, const std::vector<pipeline::FrameResult>& y) {
        ASSERT_EQ(x.size(), y.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
            ASSERT_EQ(x[i].detections.size(), y[i].detections.size()) << "frame " << i;
            EXPECT_GT(x[i].detections.size(), 0u);
            for (std::size_t k = 0; k < x[i].detections.size(); ++k) {
                EXPECT_EQ(x[i].detections[k].x1, y[i].detections[k].x1);
                EXPECT_EQ(x[i].detections[k].score, y[i].detections[k].score);
                EXPECT_EQ(x[i].detections[k].cls, y[i].detections[k].cls);
            }
            EXPECT_EQ(x[i].luma.mean, y[i].luma.mean);
        }
    };
    same(a_res, a_alone);
    same(b_res, b_alone);
    EXPECT_EQ(det.detect(std::span(views).subspan(2, 1))[0].detections.size(), b_alone[0].detections.size())
        << "the slots are free again";
}

// Each frame of a batch gets its own detections: every frame of a batch of 6 distinct frames gives what it gives
// detected alone (same boxes, scores, classes, statistics), so frames cannot swap results within a batch.
TEST(Detector, EveryFrameOfABatchGetsWhatItGetsAlone) {
    pipeline::Detector det(pipeline::make_opencv_engine(pipeline::load_model_spec(kModel)));
    auto spec = pipeline::synth::make_specs(1, "", "test", {})[0];
    pipeline::synth::CameraRenderer r(spec, 4242, 0);
    std::vector<cv::Mat> frames;
    for (int k = 0; k < 60; ++k) {
        cv::Mat m(spec.height, spec.width, CV_8UC3);
        r.next(m.data);
        if (k % 10 == 0) frames.push_back(m); // far apart: different parts in each frame
    }
    std::vector<kernels::ImageView> views;
    for (const auto& f : frames) views.push_back(bgr_view(f));
    const auto batch = det.detect(views);
    ASSERT_EQ(batch.size(), views.size());
    std::size_t differ = 0; // pairs of frames whose detections differ: the test means something only if they do
    for (std::size_t i = 0; i < views.size(); ++i) {
        const auto alone = det.detect(std::span(views).subspan(i, 1));
        const auto& a = alone[0].detections;
        const auto& b = batch[i].detections;
        ASSERT_EQ(b.size(), a.size()) << "frame " << i << " of the batch";
        ASSERT_GT(a.size(), 0u) << "frame " << i;
        for (std::size_t k = 0; k < a.size(); ++k) {
            EXPECT_NEAR(b[k].x1, a[k].x1, 1e-3) << "frame " << i << " detection " << k;
            EXPECT_NEAR(b[k].y2, a[k].y2, 1e-3) << "frame " << i << " detection " << k;
            EXPECT_NEAR(b[k].score, a[k].score, 1e-5) << "frame " << i << " detection " << k;
            EXPECT_EQ(b[k].cls, a[k].cls) << "frame " << i << " detection " << k;
        }
        EXPECT_EQ(batch[i].luma.mean, alone[0].luma.mean) << "frame " << i;
        if (i > 0 && (batch[i].detections.size() != batch[i - 1].detections.size() ||
                      batch[i].detections[0].x1 != batch[i - 1].detections[0].x1))
            ++differ;
    }
    EXPECT_GE(differ, views.size() - 2) << "the frames should have different detections";
}

class DeviceFrames : public ::testing::TestWithParam<const char*> {};

TEST_P(DeviceFrames, GiveTheHostFramesDetections) {
    SL_GPU_SKIP_UNLESS(kernels::cuda_available(), kernels::describe_device());
    const std::string engine = GetParam();
    SL_GPU_SKIP_UNLESS(engine != "libtorch" || pipeline::libtorch_available(), "no LibTorch in this build");
    pipeline::Detector det(pipeline::make_engine(engine, pipeline::load_model_spec(kModel)));
    if (engine == "libtorch") {
        EXPECT_TRUE(det.engine().reads(kernels::MemoryLocation::kDevice)) << det.engine().describe();
    }
    // exact detection counts between a batch of two and a frame alone: TF32 moves convolutions by about 1e-3
    // relative (the comment above), enough to tip a box at the threshold or an NMS near-tie; fp32 for this test
    struct Tf32Off {
        Tf32Off() { pipeline::set_libtorch_tf32(false); }
        ~Tf32Off() { pipeline::set_libtorch_tf32(true); }
    } tf32_off;
    auto spec = pipeline::synth::make_specs(1, "", "test", {})[0];
    pipeline::synth::CameraRenderer r(spec, 778, 0);
    cv::Mat bgr(spec.height, spec.width, CV_8UC3), i420;
    const int w = spec.width, h = spec.height, cw = w / 2, chh = h / 2, pitch = (w + 255) / 256 * 256;
    std::vector<std::vector<std::uint8_t>> nv12s;
    std::vector<kernels::DeviceBuffer> devs;
    std::vector<kernels::ImageView> hosts, views;
    for (int k = 0; k < 24; k += 1) {
        r.next(bgr.data);
        if (k % 6) continue;
        cv::cvtColor(bgr, i420, cv::COLOR_BGR2YUV_I420);
        // NV12 with NVDEC-like pitched planes, in host memory and copied to the device
        auto& nv12 = nv12s.emplace_back(std::size_t(pitch) * (h + chh), 0);
        const std::uint8_t* y = i420.data;
        const std::uint8_t* u = y + w * h;
        const std::uint8_t* v = u + cw * chh;
        for (int row = 0; row < h; ++row) std::memcpy(&nv12[std::size_t(row) * pitch], y + row * w, w);
        for (int row = 0; row < chh; ++row)
            for (int x = 0; x < cw; ++x) {
                nv12[std::size_t(h + row) * pitch + 2 * x] = u[row * cw + x];
                nv12[std::size_t(h + row) * pitch + 2 * x + 1] = v[row * cw + x];
            }
        auto& d = devs.emplace_back(nv12.size());
        kernels::copy_host_to_device(d.data(), nv12.data(), nv12.size());
        kernels::ImageView host, dev;
        host.format = dev.format = kernels::PixelFormat::kNV12;
        host.width = dev.width = w, host.height = dev.height = h;
        host.pitch[0] = host.pitch[1] = dev.pitch[0] = dev.pitch[1] = pitch;
        host.planes[0] = nv12.data(), host.planes[1] = nv12.data() + std::size_t(pitch) * h;
        auto* dp = static_cast<std::uint8_t*>(d.data());
        dev.planes[0] = dp, dev.planes[1] = dp + std::size_t(pitch) * h;
        dev.where = kernels::MemoryLocation::kDevice;
        hosts.push_back(host), views.push_back(dev);
    }
    ASSERT_EQ(views.size(), 4u);
    // the device frames as the line sends them: two batches in flight, the first of two device frames, the second
    // of one; collected out of order (the second first, while the first's GPU work may still run)
    std::vector<std::pair<std::size_t, pipeline::FrameResult>> got; // (frame, its result)
    const auto t0 = det.submit(std::span(views).subspan(0, 2));
    const auto t1 = det.submit(std::span(views).subspan(2, 1));
    if (engine == "libtorch") {
        EXPECT_TRUE(det.running(t0)) << "decode + NMS left running on the GPU";
    }
    auto r1 = det.collect(t1);
    auto r0 = det.collect(t0);
    ASSERT_EQ(r0.size(), 2u);
    ASSERT_EQ(r1.size(), 1u);
    got.emplace_back(0, std::move(r0[0])), got.emplace_back(1, std::move(r0[1])), got.emplace_back(2, std::move(r1[0]));
    // then one batch of two, mixed: a device frame and a host frame (a camera NVDEC declined beside one it decodes)
    const std::vector<kernels::ImageView> mixed = {views[3], hosts[0]};
    auto rm = det.detect(mixed);
    got.emplace_back(3, std::move(rm[0])), got.emplace_back(0, std::move(rm[1]));
    int compared = 0;
    for (const auto& [k, b] : got) {
        const auto a = det.detect(std::span(&hosts[k], 1))[0];
        EXPECT_NEAR(a.luma.mean, b.luma.mean, 1e-3);
        EXPECT_NEAR(a.luma.stddev, b.luma.stddev, 1e-3);
        ASSERT_EQ(a.detections.size(), b.detections.size()) << "frame " << k;
        for (std::size_t i = 0; i < a.detections.size(); ++i) {
            const auto &p = a.detections[i], &q = b.detections[i];
            const float ix = std::max(0.f, std::min(p.x2, q.x2) - std::max(p.x1, q.x1));
            const float iy = std::max(0.f, std::min(p.y2, q.y2) - std::max(p.y1, q.y1));
            const float inter = ix * iy;
            const float uni = (p.x2 - p.x1) * (p.y2 - p.y1) + (q.x2 - q.x1) * (q.y2 - q.y1) - inter;
            EXPECT_GE(inter / uni, 0.99f) << "frame " << k << " detection " << i;
            EXPECT_NEAR(p.score, q.score, 1e-3);
            EXPECT_EQ(p.cls, q.cls);
        }
        compared += static_cast<int>(a.detections.size());
    }
    EXPECT_GT(compared, 0) << "the frames had detections to compare";
    if (engine == "libtorch") {
        EXPECT_GE(det.graph_captures(), 2) << "decode + NMS as CUDA graphs";
    }
}

INSTANTIATE_TEST_SUITE_P(Engines, DeviceFrames, ::testing::Values("opencv", "libtorch"));

// An engine that reads host memory only says so when handed a device tensor.
TEST(Engine, HostOnlyEngineRefusesADeviceTensor) {
    auto engine = pipeline::make_opencv_engine(pipeline::load_model_spec(kModel));
    EXPECT_FALSE(engine->reads(kernels::MemoryLocation::kDevice));
    try {
        engine->infer({nullptr, 0, kernels::MemoryLocation::kDevice}, 1);
        ADD_FAILURE() << "accepted a device tensor";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
        EXPECT_NE(std::string(e.what()).find("host memory only"), std::string::npos) << e.what();
    }
}

} // namespace

// Candidates below the threshold: the decode and NMS run at the floor and the results are split, so the detections
// are exactly those of a detector without candidates (greedy NMS never lets a lower score suppress a higher one);
// the candidates all score in [floor, threshold), best first, at most max_candidates.
TEST(Detector, CandidatesBelowTheThresholdLeaveTheDetectionsAsTheyWere) {
    const auto spec = pipeline::load_model_spec(kModel);
    const float threshold = spec.confidence;
    pipeline::Detector plain(pipeline::make_opencv_engine(spec));
    pipeline::Detector with(pipeline::make_opencv_engine(spec), -1, -1, -1, 0.05f, 20);
    auto scene = pipeline::synth::make_specs(1, "", "test", {})[0];
    pipeline::synth::CameraRenderer r(scene, 7, 0);
    std::size_t candidates = 0, detections = 0;
    for (int k = 0; k < 12; ++k) {
        cv::Mat f(scene.height, scene.width, CV_8UC3);
        r.next(f.data);
        const auto v = bgr_view(f);
        const auto a = plain.detect(std::span(&v, 1))[0], b = with.detect(std::span(&v, 1))[0];
        EXPECT_TRUE(a.candidates.empty());
        ASSERT_EQ(a.detections.size(), b.detections.size()) << "frame " << k;
        for (std::size_t i = 0; i < a.detections.size(); ++i) {
            EXPECT_EQ(a.detections[i].score, b.detections[i].score);
            EXPECT_EQ(a.detections[i].cls, b.detections[i].cls);
            EXPECT_EQ(a.detections[i].x1, b.detections[i].x1);
            EXPECT_EQ(a.detections[i].y2, b.detections[i].y2);
        }
        EXPECT_LE(b.candidates.size(), 20u);
        for (std::size_t i = 0; i < b.candidates.size(); ++i) {
            EXPECT_GE(b.candidates[i].score, 0.05f);
            EXPECT_LT(b.candidates[i].score, threshold);
            if (i > 0) {
                EXPECT_LE(b.candidates[i].score, b.candidates[i - 1].score);
            }
        }
        candidates += b.candidates.size(), detections += b.detections.size();
    }
    EXPECT_GT(detections, 0u);
    EXPECT_GT(candidates, 0u) << "the synthetic frames have sub-threshold candidates";
}
