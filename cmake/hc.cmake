# hc_add_unit_test(NAME SOURCES... LIBS libs...)
# One CMocka executable per module, registered with ctest under the label "unit".
function(hc_add_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  if(NOT HC_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA hc_warnings)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

# hc_add_fuzz_target(NAME SOURCE file.c CORPUS dir LIBS libs...)
# STYLE.md section 11: one libFuzzer target per decoder. With HC_BUILD_TESTS
# the same source is linked with the corpus replayer (any compiler) and
# registered as ctest "fuzz_NAME" (label fuzz); with HC_FUZZ (clang) it is
# also built as the libFuzzer binary fuzz_NAME. Libraries under test should
# be passed to hc_fuzz_instrument() so coverage reaches them.
function(hc_add_fuzz_target name)
  cmake_parse_arguments(F "" "SOURCE;CORPUS" "LIBS" ${ARGN})
  if(HC_BUILD_TESTS)
    add_executable(fuzz_replay_${name} ${F_SOURCE})
    target_link_libraries(fuzz_replay_${name} PRIVATE hc_fuzz_replay ${F_LIBS} hc_warnings)
    add_test(NAME fuzz_${name} COMMAND fuzz_replay_${name} ${F_CORPUS})
    set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()
  if(HC_FUZZ)
    add_executable(fuzz_${name} ${F_SOURCE})
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,${HC_FUZZ_SANITIZE}
                           -fno-sanitize-recover=all)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,${HC_FUZZ_SANITIZE})
    target_link_libraries(fuzz_${name} PRIVATE hc_fuzz_common ${F_LIBS} hc_warnings)
  endif()
endfunction()

# Coverage instrumentation for a library reached by fuzz targets (HC_FUZZ).
function(hc_fuzz_instrument lib)
  if(HC_FUZZ)
    target_compile_options(${lib} PRIVATE -fsanitize=fuzzer-no-link,${HC_FUZZ_SANITIZE}
                           -fno-sanitize-recover=all)
  endif()
endfunction()
