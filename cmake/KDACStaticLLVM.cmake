# Debian's MLIR exports its libraries against the shared libLLVM.so, which the
# GPU machine does not have. Re-point the imported `LLVM` target at the static
# component archives so every kdac binary needs only libc and libstdc++.
if(NOT TARGET LLVM)
  return()
endif()

set(_kdac_llvm_components Core Remarks BitstreamReader BinaryFormat
    TargetParser Support Demangle)
set(_kdac_llvm_archives "")
foreach(_component IN LISTS _kdac_llvm_components)
  set(_archive "${LLVM_LIBRARY_DIR}/libLLVM${_component}.a")
  if(NOT EXISTS "${_archive}")
    message(FATAL_ERROR "KDAC_STATIC_LLVM: missing ${_archive}; "
                        "install llvm-22-dev or configure with -DKDAC_STATIC_LLVM=OFF")
  endif()
  list(APPEND _kdac_llvm_archives "${_archive}")
endforeach()

# The first archive becomes the target's location, the rest its interface;
# archive order matters to the linker, so the list repeats as a group.
list(GET _kdac_llvm_archives 0 _kdac_first)
list(REMOVE_AT _kdac_llvm_archives 0)
get_target_property(_configs LLVM IMPORTED_CONFIGURATIONS)
foreach(_config IN LISTS _configs)
  set_target_properties(LLVM PROPERTIES
    IMPORTED_LOCATION_${_config} "${_kdac_first}"
    IMPORTED_SONAME_${_config} "")
endforeach()
set_target_properties(LLVM PROPERTIES
  IMPORTED_LOCATION "${_kdac_first}"
  IMPORTED_NO_SONAME TRUE
  INTERFACE_LINK_LIBRARIES
    "${_kdac_llvm_archives};${_kdac_first};${_kdac_llvm_archives};rt;dl;m;Threads::Threads")
find_package(Threads REQUIRED)
message(STATUS "kdac: linking LLVM statically (${_kdac_first} ...)")
