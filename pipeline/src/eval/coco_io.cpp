// COCO ground truth and results files through simdjson's on-demand parser (large files are normal: a day of one
// camera is millions of detections). Every error names the file and the element.
#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <malloc.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>

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

/// A category id: an integer within +-kMaxCategoryId.
int category_id(od::value v, const std::string& file, const Where& where, const char* key) {
    const std::int64_t id = integer(v, file, where, key);
    if (id < -kMaxCategoryId || id > kMaxCategoryId)
        fail(file, where,
             std::string(key) + " " + std::to_string(id) + " is out of range (+-" + std::to_string(kMaxCategoryId) +
                 ")");
    return static_cast<int>(id);
}

/// A string of valid UTF-8 (names reach the HTML report, JSON outputs and Prometheus labels).
std::string utf8_text(od::value v, const std::string& file, const Where& where, const char* key) {
    std::string_view s;
    if (v.get_string().get(s)) fail(file, where, std::string(key) + " is not a string");
    if (!simdjson::validate_utf8(s.data(), s.size())) fail(file, where, std::string(key) + " is not valid UTF-8");
    return std::string(s);
}

/// Nothing may follow the document: a second one would be ignored.
void expect_end(od::document& doc, const std::string& file) {
    const char* rest = nullptr;
    if (doc.current_location().get(rest) == simdjson::SUCCESS)
        fail(file, "", "more after the JSON document (a second document, or trailing bytes)");
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

namespace {

CocoGroundTruth parse_ground_truth_file(const std::filesystem::path& path) {
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
                            c.id = category_id(f.value(), file, where, "id");
                            has_id = true;
                        } else if (k == "name") {
                            c.name = utf8_text(f.value(), file, where, "name");
                        }
                    }
                    if (!has_id) fail(file, where, "missing key id");
                    if (gt.categories.size() == kMaxCategories)
                        fail(file, where,
                             "more than " + std::to_string(kMaxCategories) +
                                 " categories: more than this evaluator takes (its tables grow with each)");
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
                            a.category_id = category_id(f.value(), file, where, "category_id"), seen |= 4;
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
        expect_end(doc, file);
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

} // namespace

CocoGroundTruth load_coco_ground_truth_file(const std::filesystem::path& path) {
    CocoGroundTruth gt = parse_ground_truth_file(path);
    malloc_trim(0); // the file and the parser's buffers are gone: hand their pages back
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
                d.category_id = category_id(f.value(), file, where, "category_id"), seen |= 2;
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

/// The last comma before `end` that separates two objects of a top-level results array (a "}" before it and a
/// "{" after it, whitespace allowed), or npos. A guess: a string or a nested array could hold the same bytes;
/// parse_streaming checks every chunk by parsing it strictly.
std::size_t last_cut(std::string_view text, std::size_t end) {
    for (std::size_t at = end; at > 0 && (at = text.rfind(',', at - 1)) != std::string_view::npos;) {
        std::size_t l = at, r = at + 1;
        while (l > 0 && std::isspace(static_cast<unsigned char>(text[l - 1]))) --l;
        while (r < text.size() && std::isspace(static_cast<unsigned char>(text[r]))) ++r;
        if (l > 0 && text[l - 1] == '}' && r < text.size() && text[r] == '{') return at;
    }
    return std::string_view::npos;
}

/// A large results array read in chunks of whole elements ("[" + elements + "]") and parsed by one worker per core
/// (each with its own parser) while the next chunk is read; parsed chunks join `dt` in file order as they finish.
/// The whole file is never in memory, each parser's buffers are sized for a chunk, and `dt` is reserved once for
/// the most elements the file's size allows (pages are only touched as they fill). Returns false when the file
/// is not a plain array or any chunk fails to parse strictly: the caller then reads it in one pass, which names
/// the offending element exactly.
bool parse_streaming(const std::filesystem::path& path, std::uintmax_t size, const std::string& file,
                     CocoDetections& dt) {
    constexpr std::size_t kChunk =
        1u << 19; // 512 KiB: each worker's parser sized for it (2 MiB chunks: 9 MB more peak memory, no faster)
    constexpr std::size_t kMinElement = 56; // {"image_id":0,"category_id":0,"bbox":[0,0,0,0],"score":0}
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!in) return false;
    struct Chunk {
        simdjson::padded_string text;
        std::vector<CocoDetection> parsed;
        bool done = false, ok = false;
    };
    std::deque<std::unique_ptr<Chunk>> order; // read and not yet joined, in file order
    std::deque<Chunk*> todo;                  // read and not yet taken by a worker
    std::mutex mu;
    std::condition_variable cv;
    bool finished = false, failed = false;
    auto worker = [&] {
        od::parser parser;
        for (;;) {
            Chunk* c = nullptr;
            {
                std::unique_lock lock(mu);
                cv.wait(lock, [&] { return !todo.empty() || finished || failed; });
                if (failed || todo.empty()) return;
                c = todo.front();
                todo.pop_front();
            }
            bool ok = false;
            try {
                od::document doc = parser.iterate(c->text);
                od::array arr;
                if (!doc.get_array().get(arr)) {
                    parse_detections(arr, file, "", 0, c->parsed);
                    const char* rest = nullptr;
                    ok = doc.current_location().get(rest) != simdjson::SUCCESS; // nothing after the array
                }
            } catch (const std::exception&) { // simdjson_error or a bad element: the one-pass read says which
            }
            std::lock_guard lock(mu);
            c->text = simdjson::padded_string();
            c->done = true, c->ok = ok;
            failed = failed || !ok;
            cv.notify_all();
        }
    };
    const unsigned workers = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
    const std::size_t in_flight = 2 * workers;
    dt.detections.reserve(static_cast<std::size_t>(size / kMinElement) + 1);
    std::vector<std::thread> pool;
    for (unsigned w = 0; w < workers; ++w) pool.emplace_back(worker);
    // joins the finished chunks at the front; with `all`, waits for every chunk
    auto join_done = [&](std::unique_lock<std::mutex>& lock, bool all) {
        for (;;) {
            if (all) cv.wait(lock, [&] { return failed || order.empty() || order.front()->done; });
            if (failed || order.empty() || !order.front()->done) return;
            std::unique_ptr<Chunk> c = std::move(order.front());
            order.pop_front();
            lock.unlock();
            dt.detections.insert(dt.detections.end(), c->parsed.begin(), c->parsed.end());
            c.reset();
            lock.lock();
        }
    };
    auto push = [&](std::string_view body, bool last) {
        auto c = std::make_unique<Chunk>();
        c->text = simdjson::padded_string(body.size() + (last ? 1 : 2));
        c->text.data()[0] = '[';
        std::copy(body.begin(), body.end(), c->text.data() + 1);
        if (!last) c->text.data()[body.size() + 1] = ']';
        std::unique_lock lock(mu);
        join_done(lock, false);
        cv.wait(lock, [&] { return failed || order.size() < in_flight || order.front()->done; });
        join_done(lock, false);
        todo.push_back(c.get());
        order.push_back(std::move(c));
        cv.notify_all();
        return !failed;
    };
    // the reader: whole elements between cuts; `carry` holds what follows the last cut
    std::string carry, block(kChunk, '\0');
    bool first = true, ok = true;
    for (;;) {
        const std::size_t got = std::fread(block.data(), 1, block.size(), in.get());
        carry.append(block.data(), got);
        if (first) { // the array's "[" and any whitespace before it
            const std::size_t at = carry.find_first_not_of(" \t\r\n");
            if (at == std::string::npos && got > 0) continue;
            if (at == std::string::npos || carry[at] != '[') {
                ok = false;
                break;
            }
            carry.erase(0, at + 1);
            first = false;
        }
        if (got == 0) { // the end: the rest, with the closing "]", is the last chunk
            ok = push(carry, true);
            break;
        }
        if (carry.size() < kChunk) continue;
        const std::size_t cut = last_cut(carry, carry.size());
        if (cut == std::string::npos) continue; // one huge element: read on
        if (!push(std::string_view(carry).substr(0, cut), false)) break;
        carry.erase(0, cut + 1);
    }
    std::unique_lock lock(mu);
    failed = failed || !ok || std::ferror(in.get());
    if (!failed) join_done(lock, true);
    finished = true;
    cv.notify_all();
    lock.unlock();
    for (auto& t : pool) t.join();
    if (failed) dt.detections.clear();
    return !failed;
}

CocoDetections parse_detections_file(const std::filesystem::path& path) {
    const std::string file = path.string();
    CocoDetections dt;
    dt.source = file;
    std::error_code ec;
    if (const auto size = std::filesystem::file_size(path, ec);
        !ec && size > (4u << 20) && parse_streaming(path, size, file, dt))
        return dt;
    const simdjson::padded_string json = load(path);
    od::parser parser;
    try {
        od::document doc = parser.iterate(json);
        od::array arr;
        const char* array_name = "";
        od::json_type type;
        if (doc.type().get(type)) fail(file, "", "malformed JSON");
        if (type == od::json_type::object) {
            // a dataset-shaped file whose annotations carry scores; its `images` (ids, or image objects with an id),
            // when present, are the images the results were made on: only those are evaluated
            bool found = false;
            for (auto field : doc.get_object()) {
                const std::string_view key = field.unescaped_key();
                if (key == "annotations") {
                    if (field.value().get_array().get(arr)) fail(file, "annotations", "not an array");
                    parse_detections(arr, file, "annotations", 0, dt.detections);
                    found = true;
                } else if (key == "images") {
                    od::array images;
                    if (field.value().get_array().get(images)) fail(file, "images", "not an array");
                    dt.evaluated_images.emplace();
                    std::size_t i = 0;
                    for (auto e : images) {
                        const Where where{"images", i++};
                        od::value v = e.value();
                        od::object o;
                        if (!v.get_object().get(o)) {
                            od::value id;
                            if (o["id"].get(id)) fail(file, where, "missing key id");
                            dt.evaluated_images->push_back(integer(id, file, where, "id"));
                        } else {
                            dt.evaluated_images->push_back(integer(e.value(), file, where, "image id"));
                        }
                    }
                }
            }
            if (!found)
                fail(file, "",
                     "neither a JSON array of results nor an object with annotations (expected COCO "
                     "results: [{image_id, category_id, bbox, score}, ...])");
        } else if (doc.get_array().get(arr)) {
            fail(file, "", "not a JSON array (expected COCO results: [{image_id, category_id, bbox, score}, ...])");
        } else {
            parse_detections(arr, file, array_name, 0, dt.detections);
        }
        expect_end(doc, file);
    } catch (const simdjson::simdjson_error& e) {
        fail(file, "", std::string("malformed JSON: ") + e.what());
    }
    return dt;
}

} // namespace

CocoDetections load_coco_detections_file(const std::filesystem::path& path) {
    CocoDetections dt = parse_detections_file(path);
    malloc_trim(0); // the file, the parsers' buffers and the chunks are gone: hand their pages back
    return dt;
}

} // namespace sightline::pipeline

namespace sightline::pipeline {

CocoGroundTruth restrict_to_images(const CocoGroundTruth& gt, const std::vector<std::int64_t>& image_ids) {
    const std::unordered_set<std::int64_t> keep(image_ids.begin(), image_ids.end());
    CocoGroundTruth out;
    out.source = gt.source;
    out.categories = gt.categories;
    for (const auto& im : gt.images)
        if (keep.count(im.id)) out.images.push_back(im);
    for (const auto& a : gt.annotations)
        if (keep.count(a.image_id)) out.annotations.push_back(a);
    return out;
}

} // namespace sightline::pipeline
