#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "sightline/error.hpp"
#include "sightline/pipeline/dataset.hpp"
#include "sightline/pipeline/files.hpp"

namespace sightline::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

/// An image's file name in an export: flat, unique (the sample's id made a file name).
std::string export_name(const DatasetSample& d) {
    return fs::path(d.image).filename().string();
}

void place_image(const fs::path& from, const fs::path& to) {
    std::error_code ec;
    fs::remove(to, ec);
    fs::create_hard_link(from, to, ec);
    if (!ec) return;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec)
        throw Error(ErrorCode::kIo,
                    to.string() + ": cannot copy the image from " + from.string() + ": " + ec.message());
}

/// The categories of an export: the union of the samples' class lists, in the order first met.
std::vector<std::string> categories_of(const std::vector<DatasetSample>& samples) {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& d : samples) {
        for (const auto& c : d.classes)
            if (seen.insert(c).second) out.push_back(c);
        for (const auto& b : d.predictions) // a label no class list names still gets a category
            if (seen.insert(b.label).second) out.push_back(b.label);
    }
    return out;
}

json manifest_line(const DatasetSample& d, const std::string& file) {
    return {{"image", file},
            {"id", d.id},
            {"line", d.line},
            {"camera", d.camera},
            {"frame", d.frame},
            {"pts_ns", d.pts_ns},
            {"selected_ns", d.selected_ns},
            {"width", d.width},
            {"height", d.height},
            {"model", d.model},
            {"strategy", d.strategy},
            {"tags", d.tags},
            {"reasons", d.reasons},
            {"flags", d.flags},
            {"uncertainty", d.uncertainty},
            {"threshold", d.threshold},
            {"meta", json::parse(d.meta_json)},
            {"predictions", d.predictions.size()},
            {"candidates", d.candidates.size()},
            {"context_of", d.context_of.empty() ? json(nullptr) : json(d.context_of)},
            {"context_offset", d.context_offset}};
}

std::string label_config(const std::vector<std::string>& categories) {
    static constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    std::string x = "<View>\n  <Image name=\"image\" value=\"$image\" zoom=\"true\"/>\n"
                    "  <RectangleLabels name=\"label\" toName=\"image\">\n";
    for (std::size_t i = 0; i < categories.size(); ++i) {
        std::string v;
        for (char c : categories[i])
            v += c == '"'   ? std::string("&quot;")
                 : c == '&' ? std::string("&amp;")
                 : c == '<' ? std::string("&lt;")
                            : std::string(1, c);
        x += "    <Label value=\"" + v + "\" background=\"" + kColours[i % 10] + "\"/>\n";
    }
    return x + "  </RectangleLabels>\n</View>\n";
}

/// One export format: each sample's annotations as they are added, the format's files at the end.
class FormatWriter {
  public:
    FormatWriter(const fs::path& out, const std::vector<std::string>& categories) : out_(out), categories_(categories) {
        for (std::size_t i = 0; i < categories.size(); ++i) category_id_[categories[i]] = static_cast<int>(i);
    }
    virtual ~FormatWriter() = default;
    /// Sample `index` (0-based), its image exported as images/`name`; returns the annotations it wrote.
    virtual std::size_t add(const DatasetSample& d, const std::string& name, std::size_t index) = 0;
    /// The format's own files, through `put` (which writes and lists them).
    virtual void finish(const std::function<void(const fs::path&, const std::string&)>& put) = 0;

  protected:
    int category(const std::string& label) const { return category_id_.at(label); }
    fs::path out_;
    const std::vector<std::string>& categories_;

  private:
    std::map<std::string, int> category_id_;
};

/// COCO: annotations.json, the predictions as annotations with their score.
class CocoWriter final : public FormatWriter {
  public:
    using FormatWriter::FormatWriter;
    std::size_t add(const DatasetSample& d, const std::string& name, std::size_t index) override {
        const int image_id = static_cast<int>(index) + 1;
        images_.push_back({{"id", image_id},
                           {"file_name", name},
                           {"width", d.width},
                           {"height", d.height},
                           {"line", d.line},
                           {"camera", d.camera},
                           {"frame", d.frame},
                           {"pts_ns", d.pts_ns},
                           {"sample_id", d.id}});
        for (const auto& b : d.predictions) {
            const double bw = b.x2 - b.x1, bh = b.y2 - b.y1;
            annotations_.push_back({{"id", static_cast<int>(annotations_.size()) + 1},
                                    {"image_id", image_id},
                                    {"category_id", category(b.label) + 1},
                                    {"bbox", {b.x1, b.y1, bw, bh}},
                                    {"area", bw * bh},
                                    {"iscrowd", 0},
                                    {"score", b.score}});
        }
        return d.predictions.size();
    }
    void finish(const std::function<void(const fs::path&, const std::string&)>& put) override {
        json cats = json::array();
        for (std::size_t i = 0; i < categories_.size(); ++i)
            cats.push_back({{"id", static_cast<int>(i) + 1}, {"name", categories_[i]}, {"supercategory", ""}});
        put(out_ / "annotations.json",
            json{{"info", {{"description", "sightline samples with the model's predictions as pre-annotations"}}},
                 {"images", images_},
                 {"annotations", annotations_},
                 {"categories", cats}}
                .dump());
    }

  private:
    json images_ = json::array(), annotations_ = json::array();
};

/// YOLO: labels/<image>.txt (class cx cy w h, normalised) and data.yaml.
class YoloWriter final : public FormatWriter {
  public:
    YoloWriter(const fs::path& out, const std::vector<std::string>& categories) : FormatWriter(out, categories) {
        std::error_code ec;
        fs::create_directories(out / "labels", ec);
        if (ec) throw Error(ErrorCode::kIo, (out / "labels").string() + ": cannot create the folder: " + ec.message());
    }
    std::size_t add(const DatasetSample& d, const std::string& name, std::size_t) override {
        const double w = d.width, h = d.height;
        std::string labels;
        for (const auto& b : d.predictions) {
            char line[160];
            std::snprintf(line, sizeof line, "%d %.6f %.6f %.6f %.6f\n", category(b.label), (b.x1 + b.x2) / 2 / w,
                          (b.y1 + b.y2) / 2 / h, (b.x2 - b.x1) / w, (b.y2 - b.y1) / h);
            labels += line;
        }
        write_output(out_ / "labels" / (fs::path(name).stem().string() + ".txt"), labels);
        return d.predictions.size();
    }
    void finish(const std::function<void(const fs::path&, const std::string&)>& put) override {
        std::string y = "# sightline samples: the model's predictions as labels (YOLO txt, normalised cx cy w h)\n"
                        "path: .\ntrain: images\nval: images\nnc: " +
                        std::to_string(categories_.size()) + "\nnames:\n";
        for (std::size_t i = 0; i < categories_.size(); ++i)
            y += "  " + std::to_string(i) + ": " + json(categories_[i]).dump() + "\n";
        put(out_ / "data.yaml", y);
    }
};

/// Label Studio: tasks.json with the predictions (rectanglelabels in percent, scores) and the labeling config.
class LabelStudioWriter final : public FormatWriter {
  public:
    LabelStudioWriter(const fs::path& out, const std::vector<std::string>& categories, std::string url_prefix)
        : FormatWriter(out, categories), prefix_(std::move(url_prefix)) {}
    std::size_t add(const DatasetSample& d, const std::string& name, std::size_t) override {
        const double w = d.width, h = d.height;
        json result = json::array();
        for (std::size_t k = 0; k < d.predictions.size(); ++k) {
            const auto& b = d.predictions[k];
            result.push_back({{"id", d.id + "#" + std::to_string(k)},
                              {"type", "rectanglelabels"},
                              {"from_name", "label"},
                              {"to_name", "image"},
                              {"original_width", d.width},
                              {"original_height", d.height},
                              {"image_rotation", 0},
                              {"value",
                               {{"x", 100.0 * b.x1 / w},
                                {"y", 100.0 * b.y1 / h},
                                {"width", 100.0 * (b.x2 - b.x1) / w},
                                {"height", 100.0 * (b.y2 - b.y1) / h},
                                {"rotation", 0},
                                {"rectanglelabels", {b.label}}}},
                              {"score", b.score}});
        }
        tasks_.push_back(
            {{"data",
              {{"image", prefix_ + "images/" + name},
               {"sample_id", d.id},
               {"line", d.line},
               {"camera", d.camera},
               {"frame", d.frame},
               {"pts_ns", d.pts_ns},
               {"strategy", d.strategy},
               {"uncertainty", d.uncertainty}}},
             // the prediction's score orders Label Studio's queue (sorted ascending: the most uncertain first)
             {"predictions", {{{"model_version", d.model}, {"score", 1.0 - d.uncertainty}, {"result", result}}}},
             {"meta", {{"tags", d.tags}, {"reasons", d.reasons}, {"flags", d.flags}}}});
        return d.predictions.size();
    }
    void finish(const std::function<void(const fs::path&, const std::string&)>& put) override {
        put(out_ / "tasks.json", tasks_.dump(1));
        put(out_ / "labeling_config.xml", label_config(categories_));
    }

  private:
    std::string prefix_;
    json tasks_ = json::array();
};

std::unique_ptr<FormatWriter> writer_for(const ExportOptions& o, const fs::path& out,
                                         const std::vector<std::string>& categories) {
    if (o.format == ExportFormat::kCoco) return std::make_unique<CocoWriter>(out, categories);
    if (o.format == ExportFormat::kYolo) return std::make_unique<YoloWriter>(out, categories);
    return std::make_unique<LabelStudioWriter>(out, categories, o.image_url_prefix);
}

} // namespace

ExportSummary export_dataset(const Dataset& dataset, const fs::path& out, const ExportOptions& o) {
    const std::vector<DatasetSample> samples = dataset.samples();
    std::vector<std::string> categories = categories_of(samples);
    for (const auto& c : o.extra_classes) { // classes the labelers may add (a part the model never saw)
        if (c.empty() || c.size() > 256) throw Error(ErrorCode::kBadInput, "--extra-classes: an empty or long name");
        if (std::find(categories.begin(), categories.end(), c) == categories.end()) categories.push_back(c);
    }
    std::error_code ec;
    fs::create_directories(out / "images", ec);
    if (ec) throw Error(ErrorCode::kIo, (out / "images").string() + ": cannot create the folder: " + ec.message());
    const std::unique_ptr<FormatWriter> writer = writer_for(o, out, categories);
    ExportSummary summary;
    std::string manifest;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const DatasetSample& d = samples[i];
        const std::string name = export_name(d);
        place_image(dataset.dir() / d.image, out / "images" / name);
        ++summary.images;
        manifest += manifest_line(d, "images/" + name).dump() + "\n";
        summary.annotations += writer->add(d, name, i);
    }
    const auto put = [&](const fs::path& p, const std::string& text) {
        write_output(p, text);
        summary.files.push_back(p);
    };
    writer->finish(put);
    put(out / "manifest.jsonl", manifest);
    return summary;
}

std::size_t merge_datasets(const std::vector<fs::path>& inputs, const fs::path& out) {
    Dataset target(out);
    std::size_t added = 0;
    for (const auto& in : inputs) {
        if (fs::weakly_canonical(in) == fs::weakly_canonical(out))
            throw Error(ErrorCode::kBadInput, in.string() + ": is the merge's output");
        const Dataset source(in, Dataset::Mode::kRead);
        std::size_t here = 0;
        for (const auto& d : source.samples()) {
            std::ifstream f(source.dir() / d.image, std::ios::binary);
            if (!f) throw Error(ErrorCode::kIo, (source.dir() / d.image).string() + ": cannot open");
            const std::string jpeg{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
            if (target.add(d, jpeg)) ++here;
        }
        // labels come along for the samples the output has none for (a label there already stands)
        std::set<std::string> labeled;
        for (const auto& l : target.labels()) labeled.insert(l.sample_id);
        std::vector<DatasetLabel> labels;
        for (auto& l : source.labels())
            if (!labeled.count(l.sample_id)) labels.push_back(std::move(l));
        target.put_labels(labels);
        spdlog::info("collect merge: {}: {} samples added ({} already there), {} labels", in.string(), here,
                     source.size() - here, labels.size());
        added += here;
    }
    return added;
}

} // namespace sightline::pipeline
