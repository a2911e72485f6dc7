#include <gtest/gtest.h>

#include <limits>

#include "sightline/error.hpp"
#include "sightline/transport/blob.hpp"

using namespace sightline;

TEST(Blob, RoundTripsLittleEndian) {
    std::vector<float> f = {1.5f, -0.f, std::numeric_limits<float>::infinity(), 3.25e-9f};
    auto b = transport::to_blob(f);
    ASSERT_EQ(b.size(), 16u);
    EXPECT_EQ(static_cast<unsigned char>(b[3]), 0x3F); // 1.5f = 0x3FC00000, little-endian: last byte 0x3F
    EXPECT_EQ(static_cast<unsigned char>(b[2]), 0xC0);
    EXPECT_EQ(transport::floats_from_blob(b, "boxes"), f);
    std::vector<std::int32_t> i = {-1, 0, 7};
    EXPECT_EQ(transport::int32s_from_blob(transport::to_blob(i), "classes"), i);
    std::vector<std::uint32_t> u = {0xFFFFFFFFu, 1};
    EXPECT_EQ(transport::uint32s_from_blob(transport::to_blob(u), "flags"), u);
}

TEST(Blob, RejectsRaggedBlobNamingTheField) {
    try {
        transport::floats_from_blob(std::string(7, '\0'), "scores");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("scores"), std::string::npos);
    }
}
