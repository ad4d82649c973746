# Helpers that keep the per-module CMakeLists short and uniform.

# fz_unit_test(<name> SOURCES ... [LIBS ...] [LABEL unit|property|interop|e2e|sim])
# Builds one GoogleTest executable and registers every TEST with ctest under the label.
function(fz_test name)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_LABEL)
    set(ARG_LABEL unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE fz_core GTest::gtest GTest::gtest_main ${ARG_LIBS})
  gtest_discover_tests(${name}
    TEST_PREFIX "${name}."
    PROPERTIES LABELS ${ARG_LABEL}
    DISCOVERY_TIMEOUT 60)
endfunction()

# fz_fuzz_target(<name> SOURCES ... CORPUS <dir>)
# With FZ_FUZZ the target links libFuzzer; otherwise it links a small driver that runs each corpus
# file once, so the corpus is replayed by every build (ctest label fuzz-replay).
function(fz_fuzz_target name)
  cmake_parse_arguments(ARG "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE fz_core ${ARG_LIBS})
  if(FZ_FUZZ)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz-replay.${name} COMMAND ${name} -runs=0 ${ARG_CORPUS})
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
    add_test(NAME fuzz-replay.${name} COMMAND ${name} ${ARG_CORPUS})
  endif()
  set_tests_properties(fuzz-replay.${name} PROPERTIES LABELS fuzz-replay)
endfunction()

# fz_benchmark(<name> SOURCES ...)
function(fz_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE fz_core benchmark::benchmark benchmark::benchmark_main ${ARG_LIBS})
endfunction()
