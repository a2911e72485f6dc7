#include "sightline/pipeline/snapshot.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
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

std::string sha256_of(std::string_view bytes) {
    const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), digest, &n) != 1)
        throw Error(ErrorCode::kIo, "SHA-256: OpenSSL failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned int i = 0; i < n; ++i) out += kHex[digest[i] >> 4], out += kHex[digest[i] & 15];
    return out;
}

namespace {

std::string read_bytes(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw Error(ErrorCode::kIo, p.string() + ": cannot open");
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string iso_utc(std::int64_t ns) {
    const std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/// The parent: a snapshot folder's manifest (checked), else the dataset's newest record; {} for none.
json parent_of(const Dataset& d, const fs::path& parent) {
    if (parent.empty()) {
        const auto all = d.snapshots();
        if (all.empty()) return nullptr;
        return {{"hash", all.back().hash}, {"path", all.back().path}};
    }
    const fs::path m = parent / "manifest.json";
    return {{"hash", snapshot_manifest_hash(read_bytes(m), m.string())},
            {"path", fs::absolute(parent).lexically_normal().string()}};
}

/// The parent's categories in order (ids stay stable from one version to the next), when its folder is there.
std::vector<std::string> parent_classes(const json& parent) {
    std::vector<std::string> out;
    if (!parent.is_object()) return out;
    std::error_code ec;
    const fs::path a = fs::path(parent["path"].get<std::string>()) / "annotations.json";
    if (!fs::exists(a, ec)) return out;
    return snapshot_classes(read_bytes(a), a.string());
}

/// What a snapshot holds of its samples: the COCO images and annotations, the manifest's entries, each image's hash.
struct Contents {
    json images = json::array(), annotations = json::array(), entries = json::array();
    std::map<std::string, std::string> image_hash; ///< sample id -> sha256 (sorted: the content hash's order)
    std::size_t boxes = 0;
};

/// Categories: the parent's, then the labeled samples' model classes, then classes only the labels use.
std::vector<std::string> snapshot_classes(const json& parent, const std::vector<DatasetLabel>& labels,
                                          const std::map<std::string, DatasetSample>& samples) {
    std::vector<std::string> classes = parent_classes(parent);
    std::set<std::string> seen(classes.begin(), classes.end());
    for (const auto& l : labels)
        for (const auto& c : samples.at(l.sample_id).classes)
            if (seen.insert(c).second) classes.push_back(c);
    for (const auto& l : labels)
        for (const auto& b : l.boxes)
            if (seen.insert(b.label).second) classes.push_back(b.label);
    return classes;
}

/// Copies each labeled sample's image into tmp/images (hashing it) and makes its COCO image, annotations and entry.
Contents copy_labeled(const Dataset& d, const fs::path& tmp, const std::vector<DatasetLabel>& labels,
                      const std::map<std::string, DatasetSample>& samples, const std::map<std::string, int>& category) {
    Contents c;
    for (const auto& l : labels) {
        const DatasetSample& s = samples.at(l.sample_id);
        const std::string name = fs::path(s.image).filename().string();
        const std::string bytes = read_bytes(d.dir() / s.image);
        write_durable(tmp / "images" / name, bytes);
        const std::string hash = sha256_of(bytes);
        c.image_hash[s.id] = hash;
        const int image_id = static_cast<int>(c.images.size()) + 1;
        c.images.push_back({{"id", image_id},
                            {"file_name", name},
                            {"width", s.width},
                            {"height", s.height},
                            {"line", s.line},
                            {"camera", s.camera},
                            {"frame", s.frame},
                            {"sample_id", s.id}});
        for (const auto& b : l.boxes) {
            const double bw = b.x2 - b.x1, bh = b.y2 - b.y1;
            c.annotations.push_back({{"id", static_cast<int>(c.annotations.size()) + 1},
                                     {"image_id", image_id},
                                     {"category_id", category.at(b.label)},
                                     {"bbox", {b.x1, b.y1, bw, bh}},
                                     {"area", bw * bh},
                                     {"iscrowd", 0}});
        }
        c.entries.push_back({{"id", s.id},
                             {"image", "images/" + name},
                             {"sha256", hash},
                             {"line", s.line},
                             {"camera", s.camera},
                             {"strategy", s.strategy},
                             {"model", s.model},
                             {"label_source", l.source},
                             {"labeler", l.labeler},
                             {"labeled_at", l.labeled_ns > 0 ? json(iso_utc(l.labeled_ns)) : json(nullptr)},
                             {"origin", l.origin},
                             {"boxes", l.boxes.size()}});
        c.boxes += l.boxes.size();
    }
    return c;
}

} // namespace

SnapshotSummary write_snapshot(const fs::path& dataset, const fs::path& out, const fs::path& parent_dir) {
    Dataset d(dataset, Dataset::Mode::kLabel);
    std::error_code ec;
    if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec)))
        throw Error(ErrorCode::kBadInput, out.string() +
                                              ": exists: a snapshot is never changed; write the new one to a new "
                                              "folder (it names this one as its parent)");
    const std::vector<DatasetLabel> labels = d.labels();
    if (labels.empty())
        throw Error(ErrorCode::kBadInput, dataset.string() + ": no sample is labeled yet (sightline collect import "
                                                             "brings labels back)");
    std::map<std::string, DatasetSample> samples;
    for (auto& s : d.samples()) samples.emplace(s.id, std::move(s));
    const json parent = parent_of(d, parent_dir);

    SnapshotSummary summary;
    const std::vector<std::string> classes = snapshot_classes(parent, labels, samples);
    std::map<std::string, int> category;
    json cats = json::array();
    for (std::size_t i = 0; i < classes.size(); ++i) {
        category[classes[i]] = static_cast<int>(i) + 1;
        cats.push_back({{"id", static_cast<int>(i) + 1}, {"name", classes[i]}, {"supercategory", ""}});
    }

    // written beside the target, renamed into place: a snapshot is whole or absent
    const fs::path target = fs::absolute(out).lexically_normal();
    std::string tmp_name = ".";
    tmp_name.append(target.filename().string()).append(".partial-").append(std::to_string(::getpid()));
    const fs::path tmp = target.parent_path() / tmp_name;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp / "images", ec);
    if (ec) throw Error(ErrorCode::kIo, (tmp / "images").string() + ": cannot create the folder: " + ec.message());
    try {
        const Contents c = copy_labeled(d, tmp, labels, samples, category);
        summary.boxes = c.boxes;
        const std::string coco = json{
            {"info", {{"description", "sightline snapshot: labeled samples"}}},
            {"images", c.images},
            {"annotations", c.annotations},
            {"categories", cats}}.dump(1);
        write_durable(tmp / "annotations.json", coco);
        const std::string annotations_hash = sha256_of(coco);
        // the version's name: the annotations' hash, each sample's id and image hash (by id), the parent's
        std::string content = "annotations " + annotations_hash + "\n";
        for (const auto& [id, hash] : c.image_hash) content += "sample " + id + " " + hash + "\n";
        content += "parent " + (parent.is_object() ? parent["hash"].get<std::string>() : std::string("none")) + "\n";
        summary.hash = sha256_of(content);
        summary.parent_hash = parent.is_object() ? parent["hash"].get<std::string>() : "";
        summary.images = c.images.size();
        summary.classes = classes;
        const std::int64_t now =
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        const json manifest = {{"format", "sightline-snapshot"},
                               {"schema", 1},
                               {"hash", summary.hash},
                               {"hash_of",
                                "sha256 of the lines 'annotations <sha256>', 'sample <id> <image sha256>' (by id), "
                                "'parent <hash or none>'"},
                               {"created", iso_utc(now)},
                               {"dataset", fs::absolute(dataset).lexically_normal().string()},
                               {"parent", parent},
                               {"annotations", {{"file", "annotations.json"}, {"sha256", annotations_hash}}},
                               {"classes", classes},
                               {"counts", {{"images", summary.images}, {"boxes", summary.boxes}}},
                               {"samples", c.entries}};
        write_durable(tmp / "manifest.json", manifest.dump(1));
        for (const auto& e : fs::recursive_directory_iterator(tmp))
            if (e.is_regular_file())
                fs::permissions(e.path(), fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                                fs::perm_options::replace);
        if (fs::exists(target, ec)) fs::remove(target, ec); // the empty folder it may be
        fs::rename(tmp, target);
        d.add_snapshot({summary.hash, target.string(), now});
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
    return summary;
}

std::string snapshot_manifest_hash(std::string_view manifest, const std::string& name) {
    json j;
    try {
        j = json::parse(manifest);
    } catch (const json::exception& e) {
        throw Error(ErrorCode::kBadInput, name + ": not a snapshot's manifest: " + e.what());
    }
    if (!j.is_object() || !j.contains("hash") || !j["hash"].is_string() ||
        j["hash"].get<std::string>().rfind("sha256:", 0) != 0)
        throw Error(ErrorCode::kBadInput, name + ": not a snapshot's manifest (no \"hash\")");
    return j["hash"].get<std::string>();
}

std::vector<std::string> snapshot_classes(std::string_view annotations, const std::string& name) {
    std::vector<std::string> out;
    try {
        const json j = json::parse(annotations);
        for (const auto& c : j.at("categories")) out.push_back(c.at("name").get<std::string>());
    } catch (const json::exception& e) {
        throw Error(ErrorCode::kBadInput, name + ": the parent's annotations cannot be read: " + e.what());
    }
    return out;
}

} // namespace sightline::pipeline
