# Every dependency comes from a Debian package (scripts/setup.sh installs them).
find_package(PkgConfig REQUIRED)
pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libavutil libswscale)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs dnn)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(simdjson REQUIRED)  # libsimdjson-dev: large COCO files
find_package(Threads REQUIRED)
find_package(cppzmq REQUIRED)      # cppzmq-dev, brings libzmq
find_package(msgpack REQUIRED)     # libmsgpack-cxx-dev: target msgpackc-cxx (header-only, Boost headers)
