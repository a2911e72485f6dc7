# Every dependency comes from a Debian package (scripts/setup.sh installs them). The libraries that are plain C/C++
# libraries (FFmpeg, ZeroMQ, msgpack) are found by header and library name, without pkg-config or their packages'
# CMake files: so the same lines find them under /usr here and under CMAKE_PREFIX_PATH on a GPU machine that has
# no Debian packages (bench/gpu/run.sh unpacks them there into a folder of their own).
find_package(Threads REQUIRED)

# sl_find_c_library(TARGET HEADER LIBS...): an interface target over one header (found in the include paths) and
# libraries (found by name); a clear error naming what is missing.
function(sl_find_c_library target header)
  string(MAKE_C_IDENTIFIER "${target}_${header}" _hvar)
  find_path(SL_INC_${_hvar} ${header} PATH_SUFFIXES opencv4)
  if(NOT SL_INC_${_hvar})
    message(FATAL_ERROR "${target}: header ${header} not found (scripts/setup.sh installs the Debian packages; "
                        "elsewhere put their prefix in CMAKE_PREFIX_PATH)")
  endif()
  add_library(${target} INTERFACE)
  target_include_directories(${target} SYSTEM INTERFACE ${SL_INC_${_hvar}})
  foreach(lib ${ARGN})
    find_library(SL_LIB_${lib} ${lib})
    if(NOT SL_LIB_${lib})
      message(FATAL_ERROR "${target}: library ${lib} not found (see scripts/setup.sh; or CMAKE_PREFIX_PATH)")
    endif()
    target_link_libraries(${target} INTERFACE ${SL_LIB_${lib}})
  endforeach()
endfunction()

sl_find_c_library(sightline_ffmpeg libavcodec/avcodec.h avformat avcodec swscale avutil)
sl_find_c_library(sightline_zmq zmq.hpp zmq) # cppzmq-dev's header over libzmq3-dev's library
sl_find_c_library(sightline_msgpack msgpack.hpp) # libmsgpack-cxx-dev, header-only
# msgpack without Boost (we use none of its Boost adaptors), API v3 as the Debian package's own target sets it.
target_compile_definitions(sightline_msgpack INTERFACE MSGPACK_NO_BOOST MSGPACK_DEFAULT_API_VERSION=3)

# OpenCV: core, imgproc and dnn (drawing the synthetic line, the OpenCV DNN engine). Debian's CMake package where it
# is; else (a GPU machine given only those three modules) the libraries by name. imgcodecs only for some tests.
find_package(OpenCV QUIET COMPONENTS core imgproc dnn)
if(NOT OpenCV_FOUND)
  sl_find_c_library(sightline_opencv opencv2/core.hpp opencv_dnn opencv_imgproc opencv_core)
  set(OpenCV_LIBS sightline_opencv)
  get_target_property(OpenCV_INCLUDE_DIRS sightline_opencv INTERFACE_INCLUDE_DIRECTORIES)
  message(STATUS "sightline: OpenCV found by name in ${OpenCV_INCLUDE_DIRS} (core, imgproc, dnn)")
endif()

find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(simdjson REQUIRED) # libsimdjson-dev: large COCO files
# libonnx-dev: cutting Ultralytics graphs before their decoding tail. Its targets name protobuf::libprotobuf, which
# CMake's FindProtobuf defines (the Torch package does too, but not every Torch build).
find_package(Protobuf REQUIRED)
find_package(ONNX REQUIRED)

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
