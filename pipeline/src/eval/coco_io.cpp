// COCO ground truth and results files through simdjson's on-demand parser (large files are normal: a day of one
// camera is millions of detections). Every error names the file and the element.
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <string>
#include <thread>

#include "sightline/error.hpp"
#include "sightline/pipeline/coco.hpp"

namespace sightline::pipeline {

namespace {

namespace od = simdjson::ondemand;

[[noreturn]] void fail(const std::string& file, const std::string& where, const std::string& what) {
    throw Error(ErrorCode::kBadInput, file + ": " + where + (where.empty() ? "" : ": ") + what);
}

simdjson::padded_string load(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::kNotFound, path.string() + ": no such file");
    simdjson::padded_string s;
    if (auto err = simdjson::padded_string::load(path.string()).get(s))
        throw Error(ErrorCode::kIo, path.string() + ": cannot read (" + simdjson::error_message(err) + ")");
    return s;
}

std::string item(const char* array, std::size_t i) {
    return std::string(array) + "[" + std::to_string(i) + "]";
}

/// Which element is being read; spelled out only when an error names it (a results file has millions).
struct Where {
    const char* array;
    std::size_t index;
};

[[noreturn]] void fail(const std::string& file, const Where& w, const std::string& what) {
    fail(file, item(w.array, w.index), what);
}

/// A finite number (integers accepted) or a clear error.
double number(od::value v, const std::string& file, const Where& where, const char* key) {
    double d;
    if (v.get_double().get(d)) fail(file, where, std::string(key) + " is not a number");
    if (!std::isfinite(d)) fail(file, where, std::string(key) + " is not finite");
    return d;
}

std::int64_t integer(od::value v, const std::string& file, const Where& where, const char* key) {
    od::number n;
    if (v.get_number().get(n)) fail(file, where, std::string(key) + " is not an integer");
    switch (n.get_number_type()) {
    case od::number_type::signed_integer:
        return n.get_int64();
    case od::number_type::floating_point_number: { // 3.0 is accepted as 3, as Python's json would compare it
        const double d = n.get_double();
        if (d != std::floor(d) || std::abs(d) > 9e15) fail(file, where, std::string(key) + " is not an integer");
        return static_cast<std::int64_t>(d);
    }
    default:
        fail(file, where, std::string(key) + " is out of range");
    }
}

kernels::BoxXywh bbox(od::value v, const std::string& file, const Where& where) {
    od::array a;
    if (v.get_array().get(a)) fail(file, where, "bbox is not an array [x, y, w, h]");
    double b[4];
    int n = 0;
    for (auto e : a) {
        od::value x;
        if (e.get(x)) fail(file, where, "bbox is malformed");
        if (n < 4) b[n] = number(x, file, where, "bbox element");
        ++n;
    }
    if (n != 4) fail(file, where, "bbox has " + std::to_string(n) + " elements, expected 4 [x, y, w, h]");
    if (b[2] < 0) fail(file, where, "bbox width " + std::to_string(b[2]) + " is negative");
    if (b[3] < 0) fail(file, where, "bbox height " + std::to_string(b[3]) + " is negative");
    return {b[0], b[1], b[2], b[3]};
}

std::string scalar_text(od::value v) {
    od::json_type t;
    if (v.type().get(t)) return {};
    switch (t) {
    case od::json_type::string: {
        std::string_view s;
        return v.get_string().get(s) ? std::string{} : std::string(s);
    }
    case od::json_type::boolean: {
        bool b = false;
        if (v.get_bool().get(b)) return {};
        return b ? "true" : "false";
    }
    case od::json_type::number: {
        std::string_view raw = v.raw_json_token();
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
            raw.remove_suffix(1);
        return std::string(raw);
    }
    default:
        return {};
    }
}

void parse_image(od::object o, const std::string& file, std::size_t i, CocoImage& img) {
    const Where where{"images", i};
    bool has_id = false;
    for (auto field : o) {
        std::string_view key;
        if (field.unescaped_key().get(key)) fail(file, where, "malformed key");
        od::value v = field.value();
        if (key == "id") {
            img.id = integer(v, file, where, "id");
            has_id = true;
        } else if (key == "width") {
            img.width = static_cast<int>(integer(v, file, where, "width"));
        } else if (key == "height") {
            img.height = static_cast<int>(integer(v, file, where, "height"));
        } else {
            od::json_type t;
            if (v.type().get(t)) fail(file, where, "malformed value of " + std::string(key));
            auto& slot = img.meta[std::string(key)];
            if (t == od::json_type::array) {
                for (auto e : v.get_array()) {
                    od::value x;
                    if (!e.get(x)) {
                        std::string s = scalar_text(x);
                        if (!s.empty()) slot.push_back(std::move(s));
                    }
                }
            } else if (t != od::json_type::object && t != od::json_type::null) {
                slot.push_back(scalar_text(v));
            }
            if (slot.empty()) img.meta.erase(std::string(key));
        }
    }
    if (!has_id) fail(file, where, "missing key id");
}

} // namespace

CocoGroundTruth load_coco_ground_truth_file(const std::filesystem::path& path) {
    const std::string file = path.string();
    const simdjson::padded_string json = load(path);
    od::parser parser;
    CocoGroundTruth gt;
    gt.source = file;
    try {
        od::document doc = parser.iterate(json);
        od::object root;
        if (auto err = doc.get_object().get(root))
            fail(file, "",
                 std::string(err == simdjson::INCORRECT_TYPE ? "not a JSON object" : "malformed JSON") +
                     " (expected COCO instances format; " + simdjson::error_message(err) + ")");
        bool has_images = false, has_annotations = false, has_categories = false;
        for (auto field : root) {
            std::string_view key = field.unescaped_key();
            if (key == "images") {
                has_images = true;
                std::size_t i = 0;
                for (auto e : field.value().get_array()) {
                    od::object o;
                    if (e.get_object().get(o)) fail(file, item("images", i), "not an object");
                    parse_image(o, file, i++, gt.images.emplace_back());
                }
            } else if (key == "categories") {
                has_categories = true;
                std::size_t i = 0;
                for (auto e : field.value().get_array()) {
                    const Where where{"categories", i++};
                    od::object o;
                    if (e.get_object().get(o)) fail(file, where, "not an object");
                    CocoCategory c;
                    bool has_id = false;
                    for (auto f : o) {
                        std::string_view k = f.unescaped_key();
                        if (k == "id") {
                            c.id = static_cast<int>(integer(f.value(), file, where, "id"));
                            has_id = true;
                        } else if (k == "name") {
                            std::string_view s;
                            if (f.value().get_string().get(s)) fail(file, where, "name is not a string");
                            c.name = std::string(s);
                        }
                    }
                    if (!has_id) fail(file, where, "missing key id");
                    gt.categories.push_back(std::move(c));
                }
            } else if (key == "annotations") {
                has_annotations = true;
                std::size_t i = 0;
                for (auto e : field.value().get_array()) {
                    const Where where{"annotations", i++};
                    od::object o;
                    if (e.get_object().get(o)) fail(file, where, "not an object");
                    CocoAnnotation a;
                    unsigned seen = 0; // bits: id, image_id, category_id, bbox, area
                    for (auto f : o) {
                        std::string_view k = f.unescaped_key();
                        if (k == "id")
                            a.id = integer(f.value(), file, where, "id"), seen |= 1;
                        else if (k == "image_id")
                            a.image_id = integer(f.value(), file, where, "image_id"), seen |= 2;
                        else if (k == "category_id")
                            a.category_id = static_cast<int>(integer(f.value(), file, where, "category_id")), seen |= 4;
                        else if (k == "bbox")
                            a.box = bbox(f.value(), file, where), seen |= 8;
                        else if (k == "area")
                            a.area = number(f.value(), file, where, "area"), seen |= 16;
                        else if (k == "iscrowd")
                            a.crowd = integer(f.value(), file, where, "iscrowd") != 0;
                    }
                    const char* names[] = {"id", "image_id", "category_id", "bbox"};
                    for (int b = 0; b < 4; ++b)
                        if (!(seen & (1u << b))) fail(file, where, std::string("missing key ") + names[b]);
                    // pycocotools needs `area`; files without it (some exporters) get the box area, as
                    // COCO.loadRes gives detections
                    if (!(seen & 16)) a.area = a.box.w * a.box.h;
                    if (a.area < 0) fail(file, where, "area " + std::to_string(a.area) + " is negative");
                    gt.annotations.push_back(a);
                }
            }
        }
        if (!has_images) fail(file, "", "missing key images (expected COCO instances format)");
        if (!has_categories) fail(file, "", "missing key categories");
        if (!has_annotations) fail(file, "", "missing key annotations");
    } catch (const simdjson::simdjson_error& e) {
        fail(file, "", std::string("malformed JSON: ") + e.what());
    }
    std::set<std::int64_t> images;
    for (std::size_t i = 0; i < gt.images.size(); ++i)
        if (!images.insert(gt.images[i].id).second)
            fail(file, item("images", i), "duplicate image id " + std::to_string(gt.images[i].id));
    std::set<int> cats;
    for (std::size_t i = 0; i < gt.categories.size(); ++i)
        if (!cats.insert(gt.categories[i].id).second)
            fail(file, item("categories", i), "duplicate category id " + std::to_string(gt.categories[i].id));
    for (std::size_t i = 0; i < gt.annotations.size(); ++i) {
        const auto& a = gt.annotations[i];
        if (!images.count(a.image_id))
            fail(file, item("annotations", i), "image_id " + std::to_string(a.image_id) + " is not in images");
        if (!cats.count(a.category_id))
            fail(file, item("annotations", i),
                 "category_id " + std::to_string(a.category_id) + " is not in categories");
    }
    return gt;
}

namespace {

/// Reads the detections of a results array into `out` (appending); element indices in messages start at `base`.
void parse_detections(od::array arr, const std::string& file, const char* array_name, std::size_t base,
                      std::vector<CocoDetection>& out) {
    std::size_t i = base;
    for (auto e : arr) {
        const Where where{array_name, i++};
        od::object o;
        if (e.get_object().get(o)) fail(file, where, "not an object");
        CocoDetection d;
        unsigned seen = 0;
        for (auto f : o) {
            const od::raw_json_string k = f.key(); // compared raw: no unescaping per field
            if (k == "image_id")
                d.image_id = integer(f.value(), file, where, "image_id"), seen |= 1;
            else if (k == "category_id")
                d.category_id = static_cast<int>(integer(f.value(), file, where, "category_id")), seen |= 2;
            else if (k == "bbox")
                d.box = bbox(f.value(), file, where), seen |= 4;
            else if (k == "score")
                d.score = number(f.value(), file, where, "score"), seen |= 8;
        }
        const char* names[] = {"image_id", "category_id", "bbox", "score"};
        for (int b = 0; b < 4; ++b)
            if (!(seen & (1u << b))) fail(file, where, std::string("missing key ") + names[b]);
        out.push_back(d);
    }
}

/// The next comma at or after `from` that separates two objects of a top-level results array (a "}" before it
/// and a "{" after it, whitespace allowed), or npos. A guess: a string or a nested array could hold the same
/// bytes; parse_in_parts checks every cut by parsing strictly.
std::size_t next_cut(std::string_view text, std::size_t from) {
    for (std::size_t at = from; (at = text.find(',', at)) != std::string_view::npos; ++at) {
        std::size_t l = at, r = at + 1;
        while (l > 0 && std::isspace(static_cast<unsigned char>(text[l - 1]))) --l;
        while (r < text.size() && std::isspace(static_cast<unsigned char>(text[r]))) ++r;
        if (l > 0 && text[l - 1] == '}' && r < text.size() && text[r] == '{') return at;
    }
    return std::string_view::npos;
}

/// The fast path for a plain results array on a multi-core machine, parsed in place in two parts at once, each by
/// its own parser: two cuts near the middle, c1 and c2, become "]" (the head "[...]" ends there) and "[" (the tail
/// "[...]" starts there); the one element between them is parsed from a small copy. False, with the text restored,
/// when the file is not of that shape or any part fails to parse: the caller then reads it in one pass, which
/// names the offending element exactly.
bool parse_in_parts(simdjson::padded_string& json, const std::string& file, CocoDetections& dt) {
    char* data = json.data();
    const std::string_view text(data, json.size());
    const std::size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || text[first] != '[') return false;
    const std::size_t c1 = next_cut(text, text.size() / 2);
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : next_cut(text, c1 + 1);
    if (c2 == std::string_view::npos) return false;
    const auto count = [](std::string_view t) { return static_cast<std::size_t>(std::count(t.begin(), t.end(), '{')); };
    const std::size_t n_head = count(text.substr(0, c1)), n_tail = count(text.substr(c2));
    std::string middle_text(1, '[');
    middle_text.append(text.substr(c1 + 1, c2 - c1 - 1)).push_back(']');
    const simdjson::padded_string middle(middle_text);
    const std::size_t capacity = json.size() + simdjson::SIMDJSON_PADDING;
    data[c1] = ']', data[c2] = '[';
    auto parse = [&](simdjson::padded_string_view part, std::vector<CocoDetection>& out) {
        try {
            od::parser parser;
            od::document doc = parser.iterate(part);
            od::array arr;
            if (doc.get_array().get(arr)) return false;
            parse_detections(arr, file, "", 0, out);
            return true;
        } catch (const std::exception&) { // simdjson_error or a bad element: the one-pass read says which
            return false;
        }
    };
    std::vector<CocoDetection> tail;
    bool tail_ok = false;
    dt.detections.reserve(n_head + 1 + n_tail);
    std::thread other([&] {
        tail.reserve(n_tail);
        tail_ok = parse(simdjson::padded_string_view(data + c2, json.size() - c2, capacity - c2), tail);
    });
    bool ok = parse(simdjson::padded_string_view(data, c1 + 1, capacity), dt.detections);
    ok = parse(middle, dt.detections) && ok;
    other.join();
    data[c1] = ',', data[c2] = ',';
    if (!ok || !tail_ok) {
        dt.detections.clear();
        return false;
    }
    dt.detections.insert(dt.detections.end(), tail.begin(), tail.end());
    return true;
}

} // namespace

CocoDetections load_coco_detections_file(const std::filesystem::path& path) {
    const std::string file = path.string();
    simdjson::padded_string json = load(path);
    CocoDetections dt;
    dt.source = file;
    if (json.size() > (1u << 20) && std::thread::hardware_concurrency() > 1 && parse_in_parts(json, file, dt))
        return dt;
    od::parser parser;
    try {
        od::document doc = parser.iterate(json);
        od::array arr;
        const char* array_name = "";
        od::json_type type;
        if (doc.type().get(type)) fail(file, "", "malformed JSON");
        if (type == od::json_type::object) { // a dataset-shaped file whose annotations carry scores
            bool found = false;
            for (auto field : doc.get_object()) {
                if (std::string_view(field.unescaped_key()) != "annotations") continue;
                if (field.value().get_array().get(arr)) fail(file, "annotations", "not an array");
                found = true;
                break;
            }
            if (!found)
                fail(file, "",
                     "neither a JSON array of results nor an object with annotations (expected COCO "
                     "results: [{image_id, category_id, bbox, score}, ...])");
            array_name = "annotations";
        } else if (doc.get_array().get(arr)) {
            fail(file, "", "not a JSON array (expected COCO results: [{image_id, category_id, bbox, score}, ...])");
        }
        parse_detections(arr, file, array_name, 0, dt.detections);
    } catch (const simdjson::simdjson_error& e) {
        fail(file, "", std::string("malformed JSON: ") + e.what());
    }
    return dt;
}

} // namespace sightline::pipeline
