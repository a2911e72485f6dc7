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
find_package(ONNX REQUIRED)        # libonnx-dev: cutting Ultralytics graphs before their decoding tail
find_package(msgpack REQUIRED)     # libmsgpack-cxx-dev: target msgpackc-cxx (header-only, Boost headers)

# LibTorch, for the TorchScript engine: optional (Debian's libtorch-dev here; PyTorch's own CMake package on a GPU
# machine via Torch_DIR). SIGHTLINE_LIBTORCH: AUTO (use it when found), ON (required), OFF.
set(SIGHTLINE_LIBTORCH AUTO CACHE STRING "Build the LibTorch engine: AUTO, ON or OFF")
set(SIGHTLINE_WITH_LIBTORCH OFF)
if(NOT SIGHTLINE_LIBTORCH STREQUAL "OFF")
  if(SIGHTLINE_LIBTORCH STREQUAL "ON")
    find_package(Torch REQUIRED)
  else()
    find_package(Torch QUIET)
  endif()
  if(Torch_FOUND)
    set(SIGHTLINE_WITH_LIBTORCH ON)
    message(STATUS "sightline: LibTorch engine ON (Torch ${Torch_VERSION})")
  else()
    message(STATUS "sightline: LibTorch engine OFF (no Torch CMake package; install libtorch-dev)")
  endif()
endif()
