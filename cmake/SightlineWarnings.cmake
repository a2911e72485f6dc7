# Warnings and sanitizers live on interface targets that every project target links.
add_library(sightline_warnings INTERFACE)
target_compile_options(sightline_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-missing-field-initializers>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --expt-relaxed-constexpr>)

add_library(sightline_sanitize INTERFACE)
if(SIGHTLINE_SANITIZE)
  # -fno-sanitize-recover: undefined behaviour ends the process, so a test (or a fuzzer) cannot pass over it
  target_compile_options(sightline_sanitize INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${SIGHTLINE_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer>)
  target_link_options(sightline_sanitize INTERFACE -fsanitize=${SIGHTLINE_SANITIZE})
endif()
# libFuzzer's coverage instrumentation, on the libraries' own sources only (linked PRIVATE by them): the fuzz targets
# link nothing else, and the binaries and tests compile without its cost
add_library(sightline_fuzz_coverage INTERFACE)
if(SIGHTLINE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SIGHTLINE_FUZZ needs clang (CXX=clang++-14): libFuzzer is clang's")
  endif()
  target_compile_options(sightline_fuzz_coverage INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>)
endif()
