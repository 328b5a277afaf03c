# Installs the Ember build into a fresh prefix, then configures, builds and runs the project in
# tests/external/project against it with find_package(Ember CONFIG REQUIRED).
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}")
  endif()
  message(STATUS "${out}")
endfunction()
run(${CMAKE_COMMAND} --install ${EMBER_BUILD_DIR} --prefix ${prefix})
# The package names no path of the build machine's LLVM: EmberConfig.cmake finds it.
file(GLOB_RECURSE targets ${prefix}/*EmberTargets*.cmake)
foreach(f ${targets})
  file(READ ${f} text)
  if(text MATCHES "libLLVM")
    message(FATAL_ERROR "${f} names the build machine's LLVM library")
  endif()
endforeach()
run(${CMAKE_COMMAND} -S ${EMBER_SOURCE_DIR}/tests/external/project -B ${WORK_DIR}/build -G Ninja
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/external_app)
