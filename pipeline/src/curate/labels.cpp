#include "sightline/pipeline/labels.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "sightline/error.hpp"
#include "sightline/pipeline/coco.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kPercentSlack = 0.5; ///< a box may overhang the image by half a percent (labeling tools' rounding)

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// "%xx" decoded (a URL's path); bad escapes are kept as they are.
std::string url_decode(const std::string& s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

/// The samples by id and by image file name: how a task or a COCO image names its sample.
class SampleIndex {
  public:
    explicit SampleIndex(const std::vector<DatasetSample>& samples) {
        for (const auto& d : samples) {
            by_id_[d.id] = &d;
            by_name_[fs::path(d.image).filename().string()] = &d;
        }
    }
    const DatasetSample* by_id(const std::string& id) const {
        const auto it = by_id_.find(id);
        return it == by_id_.end() ? nullptr : it->second;
    }
    /// By the last component of a path or URL (a local-files URL's `?d=` path too); Label Studio's uploads carry
    /// an 8-hex-digit prefix and '-' before the name they were uploaded under.
    const DatasetSample* by_image(const std::string& where) const {
        std::string name = url_decode(where);
        if (const auto q = name.find('?'); q != std::string::npos && name.find("d=", q) != std::string::npos)
            name = name.substr(name.find("d=", q) + 2);
        if (const auto slash = name.find_last_of('/'); slash != std::string::npos) name = name.substr(slash + 1);
        if (const auto it = by_name_.find(name); it != by_name_.end()) return it->second;
        if (name.size() > 9 && name[8] == '-' && std::all_of(name.begin(), name.begin() + 8, [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c));
            }))
            if (const auto it = by_name_.find(name.substr(9)); it != by_name_.end()) return it->second;
        return nullptr;
    }

  private:
    std::map<std::string, const DatasetSample*> by_id_, by_name_;
};

/// What names no sample: refused, the first few listed.
void refuse_unknown(const std::vector<std::string>& unknown, std::size_t total, const std::string& name,
                    const std::string& what) {
    if (unknown.empty()) return;
    std::string list;
    for (std::size_t i = 0; i < std::min<std::size_t>(unknown.size(), 5); ++i) list += (i ? ", " : "") + unknown[i];
    throw Error(ErrorCode::kBadInput, name + ": " + std::to_string(unknown.size()) + " of " + std::to_string(total) +
                                          " " + what + " name no sample of this dataset (" + list +
                                          (unknown.size() > 5 ? ", ..." : "") +
                                          "): nothing imported (is it the export of another dataset?)");
}

/// ISO 8601 as Label Studio writes it ("2026-12-06T17:03:12.345678Z", or with +hh:mm); 0 when absent or unreadable.
std::int64_t iso_ns(const json& v) {
    if (!v.is_string()) return 0;
    const std::string s = v.get<std::string>();
    int Y, M, D, h, m;
    double sec;
    int used = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf%n", &Y, &M, &D, &h, &m, &sec, &used) != 6) return 0;
    // nanoseconds since 1970 in an int64 reach April 2262
    if (Y < 1970 || Y > 2261 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 || m < 0 || m > 59 ||
        !(sec >= 0 && sec < 61))
        return 0;
    std::tm t{};
    t.tm_year = Y - 1900, t.tm_mon = M - 1, t.tm_mday = D, t.tm_hour = h, t.tm_min = m;
    t.tm_sec = static_cast<int>(std::floor(sec));
    std::int64_t secs = static_cast<std::int64_t>(timegm(&t));
    const std::string zone = s.substr(static_cast<std::size_t>(used));
    int zh = 0, zm = 0;
    char sign = 0;
    if (std::sscanf(zone.c_str(), "%c%2d:%2d", &sign, &zh, &zm) == 3 && (sign == '+' || sign == '-'))
        secs -= (sign == '+' ? 1 : -1) * (zh * 3600 + zm * 60);
    return secs * 1'000'000'000LL + static_cast<std::int64_t>(std::llround((sec - std::floor(sec)) * 1e9));
}

std::string annotator(const json& by) {
    if (by.is_number_integer()) return "labelstudio user " + std::to_string(by.get<std::int64_t>());
    if (by.is_object()) {
        if (by.contains("email") && by["email"].is_string() && !by["email"].get<std::string>().empty())
            return by["email"].get<std::string>();
        if (by.contains("id") && by["id"].is_number_integer())
            return "labelstudio user " + std::to_string(by["id"].get<std::int64_t>());
    }
    return "labelstudio";
}

/// One rectanglelabels result in the sample's pixels.
DatasetBox box_of(const json& r, const DatasetSample& d, const std::string& where) {
    const auto fail = [&](const std::string& why) { return Error(ErrorCode::kBadInput, where + ": " + why); };
    if (!r.contains("value") || !r["value"].is_object()) throw fail("a rectanglelabels result without a value");
    const json& v = r["value"];
    double xywh[4];
    const char* keys[] = {"x", "y", "width", "height"};
    for (int k = 0; k < 4; ++k) {
        if (!v.contains(keys[k]) || !v[keys[k]].is_number())
            throw fail(std::string("value.") + keys[k] + " is not a number");
        xywh[k] = v[keys[k]].get<double>();
        if (!std::isfinite(xywh[k])) throw fail(std::string("value.") + keys[k] + " is not finite");
    }
    if (v.contains("rotation") && (!v["rotation"].is_number() || std::fabs(v["rotation"].get<double>()) > 1e-6))
        throw fail("a rotated box (rotation " + v["rotation"].dump() +
                   "): the detector's boxes are upright; label without rotating");
    if (xywh[2] <= 0 || xywh[3] <= 0) throw fail("a box without area");
    if (xywh[0] < -kPercentSlack || xywh[1] < -kPercentSlack || xywh[0] + xywh[2] > 100 + kPercentSlack ||
        xywh[1] + xywh[3] > 100 + kPercentSlack)
        throw fail("a box outside the image (x " + std::to_string(xywh[0]) + "%, y " + std::to_string(xywh[1]) +
                   "%, width " + std::to_string(xywh[2]) + "%, height " + std::to_string(xywh[3]) + "%)");
    if (!v.contains("rectanglelabels") || !v["rectanglelabels"].is_array() || v["rectanglelabels"].size() != 1 ||
        !v["rectanglelabels"][0].is_string())
        throw fail("a box needs exactly one label (value.rectanglelabels)");
    std::string label = v["rectanglelabels"][0].get<std::string>();
    transport::check_text(label, transport::limits::kNameBytes, "label");
    if (label.empty()) throw fail("an empty label");
    const auto clamp = [](double p) { return std::clamp(p, 0.0, 100.0) / 100.0; };
    const double w = d.width, h = d.height;
    return {static_cast<float>(clamp(xywh[0]) * w),
            static_cast<float>(clamp(xywh[1]) * h),
            static_cast<float>(clamp(xywh[0] + xywh[2]) * w),
            static_cast<float>(clamp(xywh[1] + xywh[3]) * h),
            1.0f,
            std::move(label)};
}

/// A task's newest annotation that was not skipped (nullptr: none), and when it was made.
const json* newest_annotation(const json& task, const std::string& where, LabelImportSummary& summary,
                              std::int64_t& at_ns) {
    const json* chosen = nullptr;
    if (!task.contains("annotations")) return nullptr;
    if (!task["annotations"].is_array()) throw Error(ErrorCode::kBadInput, where + ": annotations is not a list");
    for (const json& a : task["annotations"]) {
        if (!a.is_object()) throw Error(ErrorCode::kBadInput, where + ": an annotation that is not an object");
        if (a.contains("was_cancelled") && a["was_cancelled"].is_boolean() && a["was_cancelled"].get<bool>()) {
            ++summary.cancelled;
            continue;
        }
        const std::int64_t at = std::max(iso_ns(a.value("updated_at", json())), iso_ns(a.value("created_at", json())));
        if (!chosen || at >= at_ns) chosen = &a, at_ns = at;
    }
    return chosen;
}

void count_new_classes(const std::vector<DatasetLabel>& labels, const std::vector<DatasetSample>& samples,
                       LabelImportSummary& summary) {
    std::set<std::string> known, added;
    for (const auto& d : samples) known.insert(d.classes.begin(), d.classes.end());
    for (const auto& l : labels)
        for (const auto& b : l.boxes)
            if (!known.count(b.label) && added.insert(b.label).second) summary.new_classes.push_back(b.label);
    summary.labels = labels.size();
    for (const auto& l : labels) summary.boxes += l.boxes.size();
}

} // namespace

namespace {
std::vector<DatasetLabel> read_tasks(std::string_view text, const std::string& name,
                                     const std::vector<DatasetSample>& samples, const std::string& labeler,
                                     LabelImportSummary& summary);
} // namespace

std::vector<DatasetLabel> read_labelstudio_export(std::string_view text, const std::string& name,
                                                  const std::vector<DatasetSample>& samples, const std::string& labeler,
                                                  LabelImportSummary& summary) {
    try {
        return read_tasks(text, name, samples, labeler, summary);
    } catch (const json::exception& e) { // a value of an unexpected type the checks did not foresee
        throw Error(ErrorCode::kBadInput, name + ": not a Label Studio export as expected: " + e.what());
    }
}

namespace {
std::vector<DatasetLabel> read_tasks(std::string_view text, const std::string& name,
                                     const std::vector<DatasetSample>& samples, const std::string& labeler,
                                     LabelImportSummary& summary) {
    json tasks;
    try {
        tasks = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(ErrorCode::kBadInput, name + ": not JSON: " + e.what());
    }
    if (!tasks.is_array())
        throw Error(ErrorCode::kBadInput, name + ": not a Label Studio JSON export (a list of tasks; export as "
                                                 "\"JSON\", not \"JSON-MIN\" or CSV)");
    const SampleIndex index(samples);
    const std::int64_t imported = now_ns();
    std::vector<DatasetLabel> out;
    std::vector<std::string> unknown;
    std::set<std::string> seen;
    for (std::size_t t = 0; t < tasks.size(); ++t) {
        const json& task = tasks[t];
        std::string where = name + ": task " + std::to_string(t);
        if (!task.is_object() || !task.contains("data") || !task["data"].is_object())
            throw Error(ErrorCode::kBadInput, where + ": not a task (an object with `data`)");
        if (task.contains("id") && task["id"].is_number_integer())
            where = name + ": task id " + std::to_string(task["id"].get<std::int64_t>());
        const json& data = task["data"];
        const DatasetSample* d = nullptr;
        std::string named;
        if (data.contains("sample_id") && data["sample_id"].is_string()) {
            named = data["sample_id"].get<std::string>();
            d = index.by_id(named);
        } else if (data.contains("image") && data["image"].is_string()) {
            named = data["image"].get<std::string>();
            d = index.by_image(named);
        } else {
            throw Error(ErrorCode::kBadInput, where + ": names no image (data.image) nor sample (data.sample_id)");
        }
        std::int64_t chosen_ns = 0;
        const json* chosen = newest_annotation(task, where, summary, chosen_ns);
        if (!chosen) {
            ++summary.unlabeled;
            continue;
        }
        if (!d) {
            unknown.push_back(transport::printable(named));
            continue;
        }
        if (!seen.insert(d->id).second)
            throw Error(ErrorCode::kBadInput, where + ": sample " + d->id + " is named by two tasks");
        DatasetLabel l;
        l.sample_id = d->id, l.source = "labelstudio", l.origin = where;
        l.labeler = labeler.empty() ? annotator(chosen->value("completed_by", json())) : labeler;
        l.labeled_ns = chosen_ns, l.imported_ns = imported;
        if (!chosen->contains("result") || !(*chosen)["result"].is_array())
            throw Error(ErrorCode::kBadInput, where + ": an annotation without a result list");
        for (const json& r : (*chosen)["result"]) {
            if (!r.is_object()) throw Error(ErrorCode::kBadInput, where + ": a result that is not an object");
            if (!r.contains("type") || r["type"] != "rectanglelabels") continue; // choices, text...: not boxes
            l.boxes.push_back(box_of(r, *d, where));
            if (l.boxes.size() > transport::limits::kDetections)
                throw Error(ErrorCode::kBadInput, where + ": more boxes than a frame may hold");
        }
        out.push_back(std::move(l));
    }
    refuse_unknown(unknown, tasks.size(), name, "labeled tasks");
    count_new_classes(out, samples, summary);
    return out;
}
} // namespace

std::vector<DatasetLabel> read_coco_labels(const fs::path& file, const std::vector<DatasetSample>& samples,
                                           const std::string& labeler, LabelImportSummary& summary) {
    const CocoGroundTruth gt = load_coco_ground_truth_file(file);
    const SampleIndex index(samples);
    std::map<int, std::string> category;
    for (const auto& c : gt.categories) category[c.id] = c.name;
    std::error_code ec;
    const auto mtime = fs::last_write_time(file, ec);
    const std::int64_t labeled = ec ? now_ns()
                                    : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                                          .count();
    const std::int64_t imported = now_ns();
    std::map<std::int64_t, std::size_t> slot; // image id -> label
    std::vector<DatasetLabel> out;
    std::vector<std::string> unknown;
    std::set<std::string> seen;
    for (const auto& img : gt.images) {
        const auto field = [&](const char* k) {
            const auto it = img.meta.find(k);
            return it == img.meta.end() || it->second.empty() ? std::string() : it->second.front();
        };
        const std::string sample_id = field("sample_id"), file_name = field("file_name");
        const DatasetSample* d = !sample_id.empty() ? index.by_id(sample_id) : index.by_image(file_name);
        if (!d) {
            unknown.push_back(transport::printable(sample_id.empty() ? file_name : sample_id));
            continue;
        }
        if (!seen.insert(d->id).second)
            throw Error(ErrorCode::kBadInput, file.string() + ": sample " + d->id + " is named by two images");
        if (img.width > 0 && img.height > 0 && (img.width != d->width || img.height != d->height))
            throw Error(ErrorCode::kBadInput, file.string() + ": image " + std::to_string(img.id) + " is " +
                                                  std::to_string(img.width) + "x" + std::to_string(img.height) +
                                                  ", its sample " + d->id + " " + std::to_string(d->width) + "x" +
                                                  std::to_string(d->height));
        DatasetLabel l;
        l.sample_id = d->id, l.source = "coco",
        l.origin = file.filename().string() + ": image " + std::to_string(img.id);
        l.labeler = labeler.empty() ? "coco:" + file.filename().string() : labeler;
        l.labeled_ns = labeled, l.imported_ns = imported;
        slot[img.id] = out.size();
        out.push_back(std::move(l));
    }
    refuse_unknown(unknown, gt.images.size(), file.string(), "images");
    for (const auto& a : gt.annotations) {
        const auto it = slot.find(a.image_id);
        if (it == slot.end()) continue;
        DatasetLabel& l = out[it->second];
        const DatasetSample& d = *index.by_id(l.sample_id);
        const auto clampx = [&](double v) { return static_cast<float>(std::clamp(v, 0.0, double(d.width))); };
        const auto clampy = [&](double v) { return static_cast<float>(std::clamp(v, 0.0, double(d.height))); };
        l.boxes.push_back({clampx(a.box.x), clampy(a.box.y), clampx(a.box.x + a.box.w), clampy(a.box.y + a.box.h), 1.0f,
                           category.at(a.category_id)});
        if (l.boxes.size() > transport::limits::kDetections)
            throw Error(ErrorCode::kBadInput, file.string() + ": more boxes on one image than a frame may hold");
    }
    count_new_classes(out, samples, summary);
    return out;
}

LabelImportSummary import_labels(const fs::path& dataset, LabelFormat format, const fs::path& file,
                                 const std::string& labeler) {
    Dataset d(dataset, Dataset::Mode::kLabel);
    const std::vector<DatasetSample> samples = d.samples();
    LabelImportSummary summary;
    std::vector<DatasetLabel> labels;
    if (format == LabelFormat::kCoco) {
        labels = read_coco_labels(file, samples, labeler, summary);
    } else {
        std::ifstream f(file, std::ios::binary);
        if (!f) throw Error(ErrorCode::kNotFound, file.string() + ": cannot open");
        const std::string text{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
        labels = read_labelstudio_export(text, file.string(), samples, labeler, summary);
    }
    summary.replaced = d.put_labels(labels);
    return summary;
}

} // namespace sightline::pipeline
