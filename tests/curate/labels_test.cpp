// Labels back and dataset versions (issue 27, item 3): a Label Studio JSON export and a COCO file attach labels to
// the samples they name; what names no sample or is not such a file is refused whole; a snapshot freezes the
// labeled samples with content hashes and names its parent.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "sightline/error.hpp"
#include "sightline/pipeline/dataset.hpp"
#include "sightline/pipeline/labels.hpp"
#include "sightline/pipeline/snapshot.hpp"
#include "support/test_support.hpp"

namespace {

using namespace sightline;
using namespace sightline::pipeline;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kW = 640, kH = 480;

/// A dataset of three samples of cam1 (640x480, the model knows bolt and nut), each a real JPEG.
fs::path make_dataset(const std::string& name) {
    const fs::path dir = sightline::testing::temp_dir(name);
    fs::remove_all(dir);
    Dataset d(dir);
    for (int i = 0; i < 3; ++i) {
        DatasetSample s;
        s.id = "east-cam1-" + std::to_string(i), s.line = "east", s.camera = "cam1", s.frame = i;
        s.width = kW, s.height = kH, s.model = "parts@1", s.strategy = "doubt", s.classes = {"bolt", "nut"};
        s.meta_json = "{}";
        s.predictions = {{10, 10, 50, 50, 0.6f, "bolt"}};
        std::vector<unsigned char> jpeg;
        cv::imencode(".jpg", cv::Mat(kH, kW, CV_8UC3, cv::Scalar(i * 40, 90, 200)), jpeg);
        d.add(s, std::string_view(reinterpret_cast<const char*>(jpeg.data()), jpeg.size()));
    }
    return dir;
}

json box(double x, double y, double w, double h, const std::string& label) {
    return {
        {"type", "rectanglelabels"},
        {"from_name", "label"},
        {"to_name", "image"},
        {"original_width", kW},
        {"original_height", kH},
        {"value", {{"x", x}, {"y", y}, {"width", w}, {"height", h}, {"rotation", 0}, {"rectanglelabels", {label}}}}};
}

json task(const json& data, const json& annotations) {
    return {{"id", 7}, {"data", data}, {"annotations", annotations}};
}

std::vector<DatasetSample> samples_of(const fs::path& dir) {
    return Dataset(dir, Dataset::Mode::kRead).samples();
}

fs::path write(const fs::path& p, const std::string& text) {
    std::ofstream(p) << text;
    return p;
}

} // namespace

TEST(Labels, LabelStudioTasksBecomeBoxesInPixelsOfTheirSamples) {
    const fs::path dir = make_dataset("ls_ok");
    const json tasks = json::array(
        {// by sample id: the newest annotation that was not skipped, percent -> pixels, a class the model lacks
         task({{"sample_id", "east-cam1-0"}, {"image", "/data/local-files/?d=images/whatever.jpg"}},
              {{{"completed_by", {{"id", 3}, {"email", "ana@line.example"}}},
                {"created_at", "2026-12-01T10:00:00.000000Z"},
                {"result", {box(10, 20, 30, 40, "bolt")}}},
               {{"completed_by", 4},
                {"created_at", "2026-12-02T10:00:00Z"},
                {"was_cancelled", true},
                {"result", json::array()}},
               {{"completed_by", {{"id", 3}, {"email", "ana@line.example"}}},
                {"created_at", "2026-12-01T11:00:00Z"},
                {"updated_at", "2026-12-01T12:30:00.5Z"},
                {"result",
                 {box(10, 20, 30, 40, "bolt"),
                  box(50, 50, 25, 25, "gear"),
                  {{"type", "choices"}, {"value", {{"choices", {"ok"}}}}}}}}}),
         // by image URL as sightline's export writes it, and as Label Studio renames an upload; an empty result
         task({{"image", "/data/local-files/?d=images/east-cam1-1.jpg"}},
              {{{"completed_by", 9}, {"result", json::array()}}}),
         task({{"image", "/data/upload/1/0badcafe-east-cam1-2.jpg"}},
              {{{"completed_by", 9}, {"result", {box(0, 0, 100, 100, "nut")}}}}),
         // not labeled yet
         task({{"image", "/data/upload/1/east-cam1-9.jpg"}}, json::array())});
    const fs::path file = write(dir / "export.json", tasks.dump());
    const Dataset collector(dir); // labels come back while the collector writes the dataset
    const LabelImportSummary s = import_labels(dir, LabelFormat::kLabelStudio, file);
    EXPECT_EQ(s.labels, 3u);
    EXPECT_EQ(s.boxes, 3u);
    EXPECT_EQ(s.unlabeled, 1u);
    EXPECT_EQ(s.cancelled, 1u);
    EXPECT_EQ(s.replaced, 0u);
    EXPECT_EQ(s.new_classes, std::vector<std::string>{"gear"});
    const auto labels = Dataset(dir, Dataset::Mode::kRead).labels();
    ASSERT_EQ(labels.size(), 3u);
    EXPECT_EQ(labels[0].sample_id, "east-cam1-0");
    EXPECT_EQ(labels[0].labeler, "ana@line.example");
    EXPECT_EQ(labels[0].source, "labelstudio");
    EXPECT_EQ(labels[0].labeled_ns, 1796128200500000000LL); // 2026-12-01T12:30:00.5Z, the newer of the two
    ASSERT_EQ(labels[0].boxes.size(), 2u);
    const DatasetBox& b = labels[0].boxes[0];
    EXPECT_EQ((std::vector<float>{b.x1, b.y1, b.x2, b.y2}), (std::vector<float>{64, 96, 256, 288}));
    EXPECT_EQ(labels[0].boxes[1].label, "gear");
    EXPECT_EQ(labels[1].sample_id, "east-cam1-1");
    EXPECT_TRUE(labels[1].boxes.empty()) << "nothing to mark is a label too";
    EXPECT_EQ(labels[1].labeler, "labelstudio user 9");
    EXPECT_EQ(labels[2].sample_id, "east-cam1-2");
    EXPECT_FLOAT_EQ(labels[2].boxes.at(0).x2, kW);
    // a second import of the same sample replaces its label; --labeler names who did it
    const json again = json::array({task({{"sample_id", "east-cam1-1"}}, {{{"result", {box(1, 1, 2, 2, "nut")}}}})});
    const LabelImportSummary s2 =
        import_labels(dir, LabelFormat::kLabelStudio, write(dir / "again.json", again.dump()), "bo");
    EXPECT_EQ(s2.replaced, 1u);
    EXPECT_EQ(Dataset(dir, Dataset::Mode::kRead).labels()[1].labeler, "bo");
    // a merge carries the labels along
    const fs::path merged = sightline::testing::temp_dir("ls_merged");
    fs::remove_all(merged);
    EXPECT_EQ(merge_datasets({dir}, merged), 3u);
    EXPECT_EQ(Dataset(merged, Dataset::Mode::kRead).labels().size(), 3u);
    fs::remove_all(merged);
    fs::remove_all(dir);
}

TEST(Labels, WhatIsNotALabelStudioExportOrNamesNoSampleIsRefusedWhole) {
    const fs::path dir = make_dataset("ls_bad");
    const auto samples = samples_of(dir);
    const json ok = task({{"sample_id", "east-cam1-0"}}, {{{"result", {box(1, 1, 2, 2, "nut")}}}});
    const auto with = [&](const json& result) {
        return json::array({ok, task({{"sample_id", "east-cam1-1"}}, {{{"result", {result}}}})}).dump();
    };
    json rotated = box(1, 1, 2, 2, "nut"), outside = box(90, 1, 20, 2, "nut"), two = box(1, 1, 2, 2, "nut"),
         empty = box(1, 1, 2, 2, ""), flat = box(1, 1, 0, 2, "nut"), nan = box(1, 1, 2, 2, "nut");
    rotated["value"]["rotation"] = 30;
    two["value"]["rectanglelabels"] = {"nut", "bolt"};
    nan["value"]["x"] = "1";
    const struct {
        std::string name, text, says;
    } cases[] = {
        {"not JSON", "[{", "not JSON"},
        {"JSON-MIN", R"({"image": "x.jpg", "label": []})", "not a Label Studio JSON export"},
        {"a task without data", R"([{"annotations": []}])", "not a task"},
        {"no image nor sample", R"([{"data": {"text": "hi"}}])", "names no image"},
        {"annotations not a list", R"([{"data": {"sample_id": "east-cam1-0"}, "annotations": {}}])", "not a list"},
        {"a rotated box", with(rotated), "rotated"},
        {"a box outside the image", with(outside), "outside the image"},
        {"two labels on a box", with(two), "exactly one label"},
        {"an empty label", with(empty), "empty label"},
        {"a box without area", with(flat), "without area"},
        {"a coordinate as text", with(nan), "value.x is not a number"},
        {"a task naming no sample",
         json::array({ok, task({{"image", "/data/upload/1/other-cam-7.jpg"}}, {{{"result", json::array()}}})}).dump(),
         "1 of 2 labeled tasks name no sample of this dataset (/data/upload/1/other-cam-7.jpg)"},
        {"one sample named twice", json::array({ok, ok}).dump(), "named by two tasks"},
    };
    for (const auto& c : cases) {
        LabelImportSummary s;
        try {
            read_labelstudio_export(c.text, "export.json", samples, "", s);
            ADD_FAILURE() << c.name << ": accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadInput) << c.name;
            EXPECT_NE(std::string(e.what()).find("export.json"), std::string::npos) << c.name << ": " << e.what();
            EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << c.name << ": " << e.what();
        }
    }
    // through the import: nothing of a refused file is attached
    EXPECT_THROW(import_labels(dir, LabelFormat::kLabelStudio, write(dir / "bad.json", with(rotated))), Error);
    EXPECT_TRUE(Dataset(dir, Dataset::Mode::kRead).labels().empty());
    EXPECT_THROW(import_labels(dir, LabelFormat::kLabelStudio, dir / "missing.json"), Error);
    fs::remove_all(dir);
}

TEST(Labels, CocoImagesMatchedByFileNameGiveTheirAnnotations) {
    const fs::path dir = make_dataset("coco_labels");
    const json coco = {
        {"images",
         {{{"id", 1}, {"file_name", "east-cam1-0.jpg"}, {"width", kW}, {"height", kH}},
          {{"id", 2}, {"file_name", "sub/east-cam1-2.jpg"}, {"width", kW}, {"height", kH}}}},
        {"categories", {{{"id", 5}, {"name", "nut"}}, {{"id", 9}, {"name", "gear"}}}},
        {"annotations",
         {{{"id", 1}, {"image_id", 1}, {"category_id", 9}, {"bbox", {10, 20, 30, 40}}, {"area", 1200}, {"iscrowd", 0}},
          {{"id", 2}, {"image_id", 1}, {"category_id", 5}, {"bbox", {0, 0, 5, 5}}, {"area", 25}, {"iscrowd", 0}}}}};
    const LabelImportSummary s = import_labels(dir, LabelFormat::kCoco, write(dir / "gt.json", coco.dump()));
    EXPECT_EQ(s.labels, 2u);
    EXPECT_EQ(s.boxes, 2u);
    EXPECT_EQ(s.new_classes, std::vector<std::string>{"gear"});
    const auto labels = Dataset(dir, Dataset::Mode::kRead).labels();
    ASSERT_EQ(labels.size(), 2u);
    EXPECT_EQ(labels[0].labeler, "coco:gt.json");
    EXPECT_EQ(labels[0].source, "coco");
    ASSERT_EQ(labels[0].boxes.size(), 2u);
    EXPECT_EQ(labels[0].boxes[0].label, "gear");
    EXPECT_FLOAT_EQ(labels[0].boxes[0].x2, 40);
    EXPECT_FLOAT_EQ(labels[0].boxes[0].y2, 60);
    EXPECT_TRUE(labels[1].boxes.empty());
    // another size than the sample's, or a name no sample has: refused whole
    json wrong = coco;
    wrong["images"][1]["width"] = 320;
    EXPECT_THROW(import_labels(dir, LabelFormat::kCoco, write(dir / "wrong.json", wrong.dump())), Error);
    json stranger = coco;
    stranger["images"][1]["file_name"] = "nobody.jpg";
    try {
        import_labels(dir, LabelFormat::kCoco, write(dir / "stranger.json", stranger.dump()));
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("1 of 2 images name no sample of this dataset (nobody.jpg)"),
                  std::string::npos)
            << e.what();
    }
    fs::remove_all(dir);
}

TEST(Snapshot, FreezesTheLabeledSamplesWithHashesAndNamesItsParent) {
    const fs::path dir = make_dataset("snapshot");
    EXPECT_THROW(write_snapshot(dir, dir / "v0"), Error) << "nothing labeled yet";
    const json first = json::array({task({{"sample_id", "east-cam1-0"}}, {{{"result", {box(10, 20, 30, 40, "gear")}}}}),
                                    task({{"sample_id", "east-cam1-1"}}, {{{"result", json::array()}}})});
    import_labels(dir, LabelFormat::kLabelStudio, write(dir / "a.json", first.dump()));
    const SnapshotSummary v1 = write_snapshot(dir, dir / "v1");
    EXPECT_EQ(v1.images, 2u);
    EXPECT_EQ(v1.boxes, 1u);
    EXPECT_TRUE(v1.parent_hash.empty());
    EXPECT_EQ(v1.classes, (std::vector<std::string>{"bolt", "nut", "gear"}));
    const json m1 = json::parse(std::ifstream(dir / "v1" / "manifest.json"));
    EXPECT_EQ(m1["hash"], v1.hash);
    EXPECT_TRUE(m1["parent"].is_null());
    ASSERT_EQ(m1["samples"].size(), 2u);
    // every hash is what it says: the images', the annotations', and the version's over them
    std::string content;
    {
        std::ifstream f(dir / "v1" / "annotations.json", std::ios::binary);
        const std::string a{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
        EXPECT_EQ(m1["annotations"]["sha256"], sha256_of(a));
        content = "annotations " + sha256_of(a) + "\n";
    }
    for (const auto& e : m1["samples"]) {
        std::ifstream f(dir / "v1" / e["image"].get<std::string>(), std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
        EXPECT_EQ(e["sha256"], sha256_of(bytes));
        EXPECT_EQ(e["label_source"], "labelstudio");
        content += "sample " + e["id"].get<std::string>() + " " + sha256_of(bytes) + "\n";
    }
    EXPECT_EQ(v1.hash, sha256_of(content + "parent none\n"));
    const json a1 = json::parse(std::ifstream(dir / "v1" / "annotations.json"));
    ASSERT_EQ(a1["annotations"].size(), 1u);
    EXPECT_EQ(a1["annotations"][0]["bbox"], json({64.0, 96.0, 192.0, 192.0}));
    EXPECT_EQ(a1["categories"][2]["name"], "gear");
    EXPECT_EQ(a1["annotations"][0]["category_id"], 3);
    struct stat st {};
    ASSERT_EQ(::stat((dir / "v1" / "manifest.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0222, 0u) << "a snapshot's files are read-only";
    // never changed: the same folder again is refused; the next names this one
    EXPECT_THROW(write_snapshot(dir, dir / "v1"), Error);
    const json second =
        json::array({task({{"sample_id", "east-cam1-2"}}, {{{"result", {box(0, 0, 10, 10, "washer")}}}})});
    import_labels(dir, LabelFormat::kLabelStudio, write(dir / "b.json", second.dump()));
    const SnapshotSummary v2 = write_snapshot(dir, dir / "v2");
    EXPECT_EQ(v2.parent_hash, v1.hash);
    EXPECT_EQ(v2.images, 3u);
    EXPECT_EQ(v2.classes, (std::vector<std::string>{"bolt", "nut", "gear", "washer"})) << "the parent's ids kept";
    const json m2 = json::parse(std::ifstream(dir / "v2" / "manifest.json"));
    EXPECT_EQ(m2["parent"]["hash"], v1.hash);
    EXPECT_EQ(json::parse(std::ifstream(dir / "v1" / "manifest.json")), m1) << "the parent is unchanged";
    const auto records = Dataset(dir, Dataset::Mode::kRead).snapshots();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].hash, v2.hash);
    // an explicit parent that is no snapshot is refused
    EXPECT_THROW(write_snapshot(dir, dir / "v3", dir / "images"), Error);
    EXPECT_FALSE(fs::exists(dir / "v3"));
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir);
}

// A parent snapshot's files as `collect snapshot --parent DIR` reads them: what is not a snapshot's is refused by
// name (sightline::Error naming the file), never an escaping JSON exception.
TEST(Snapshot, AParentThatIsNotASnapshotIsRefusedByName) {
    using sightline::pipeline::snapshot_classes;
    using sightline::pipeline::snapshot_manifest_hash;
    EXPECT_EQ(snapshot_manifest_hash(R"({"hash": "sha256:ab12"})", "m.json"), "sha256:ab12");
    EXPECT_EQ(snapshot_classes(R"({"categories": [{"id": 1, "name": "bolt"}, {"id": 2, "name": "gear"}]})", "a.json"),
              (std::vector<std::string>{"bolt", "gear"}));
    const char* manifests[] = {"", "{", "[]", "{}", R"({"hash": 5})", R"({"hash": "md5:ab"})", "null"};
    for (const char* m : manifests) {
        try {
            (void)snapshot_manifest_hash(m, "parent/manifest.json");
            ADD_FAILURE() << "accepted manifest: " << m;
        } catch (const sightline::Error& e) {
            EXPECT_EQ(e.code(), sightline::ErrorCode::kBadInput);
            EXPECT_NE(std::string(e.what()).find("parent/manifest.json"), std::string::npos) << e.what();
        }
    }
    const char* annotations[] = {"",
                                 "[1]",
                                 "{}",
                                 R"({"categories": "bolt"})",
                                 R"({"categories": [{"id": 1}]})",
                                 R"({"categories": [{"name": 3}]})"};
    for (const char* a : annotations) {
        try {
            (void)snapshot_classes(a, "parent/annotations.json");
            ADD_FAILURE() << "accepted annotations: " << a;
        } catch (const sightline::Error& e) {
            EXPECT_EQ(e.code(), sightline::ErrorCode::kBadInput);
            EXPECT_NE(std::string(e.what()).find("parent/annotations.json"), std::string::npos) << e.what();
        }
    }
}
