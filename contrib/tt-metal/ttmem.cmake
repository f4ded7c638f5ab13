# ttmem.cmake — builds contrib/tt-metal/ttmem_tt_metal.cpp into TT-Metal's tt_metal library and
# links libttmem, without editing TT-Metal's CMake files. Pass it to TT-Metal's configure:
#
#   cmake ... -DCMAKE_PROJECT_INCLUDE=/path/to/ttmem/contrib/tt-metal/ttmem.cmake
#
# CMake includes it right after TT-Metal's project() call, before the tt_metal target exists, so
# the work is deferred to the end of the top directory. libttmem is found through pkg-config
# (ttmem.pc, installed with libttmem; PKG_CONFIG_PATH for a non-standard PREFIX).
# TTMEM_TT_METAL_TARGET names the library target (default tt_metal).
cmake_minimum_required(VERSION 3.19) # cmake_language(DEFER)

set(TTMEM_TT_METAL_DIR ${CMAKE_CURRENT_LIST_DIR})
if(NOT DEFINED TTMEM_TT_METAL_TARGET)
  set(TTMEM_TT_METAL_TARGET tt_metal)
endif()

function(ttmem_tt_metal_attach)
  if(NOT TARGET ${TTMEM_TT_METAL_TARGET})
    message(FATAL_ERROR "ttmem.cmake: no target '${TTMEM_TT_METAL_TARGET}' to build the ttmem "
                        "hooks into (set TTMEM_TT_METAL_TARGET)")
  endif()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(TTMEM REQUIRED IMPORTED_TARGET GLOBAL ttmem)
  target_sources(${TTMEM_TT_METAL_TARGET} PRIVATE ${TTMEM_TT_METAL_DIR}/ttmem_tt_metal.cpp)
  target_include_directories(${TTMEM_TT_METAL_TARGET} PRIVATE ${TTMEM_TT_METAL_DIR})
  target_link_libraries(${TTMEM_TT_METAL_TARGET} PRIVATE PkgConfig::TTMEM)
  message(STATUS "ttmem: TT-Metal reports to libttmem ${TTMEM_VERSION} (${TTMEM_TT_METAL_TARGET})")
endfunction()

cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL ttmem_tt_metal_attach)
