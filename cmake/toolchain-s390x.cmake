# Cross build for s390x (IBM Z: big-endian; float evaluated in double under ISO C, which
# CMakeLists.txt turns off with -fexcess-precision=fast) Linux on a Debian x86-64 host:
# crossbuild-essential-s390x and libgfortran5-s390x-cross, and a sysroot of
# the libraries' s390x .debs (.ci/install-deps --cross unpacks it into
# /var/cache/libae-cross/s390x/root, or $AE_S390X_SYSROOT). ctest runs every test binary
# under qemu-user: qemu-s390x with the cross libc's folder as its root, the sysroot's
# libraries on the guest's LD_LIBRARY_PATH.
#   cmake -S . -B build-s390x -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-s390x.cmake
#   cmake --build build-s390x -j2 && ctest --test-dir build-s390x
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(CMAKE_C_COMPILER s390x-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE s390x-linux-gnu)
if(DEFINED ENV{AE_S390X_SYSROOT})
  set(AE_S390X_SYSROOT "$ENV{AE_S390X_SYSROOT}")
else()
  set(AE_S390X_SYSROOT /var/cache/libae-cross/s390x/root)
endif()
if(NOT EXISTS ${AE_S390X_SYSROOT}/usr/lib/s390x-linux-gnu/libopenblas.so)
  message(FATAL_ERROR "no s390x sysroot in ${AE_S390X_SYSROOT}: run .ci/install-deps --cross")
endif()
# Libraries, headers and packages from the sysroot (the C library is the cross compiler's own);
# programs from the host.
set(CMAKE_FIND_ROOT_PATH ${AE_S390X_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(_lib ${AE_S390X_SYSROOT}/usr/lib/s390x-linux-gnu)
# The sysroot's .pc files name its own folders (install-deps rewrote their prefixes).
set(ENV{PKG_CONFIG_LIBDIR} ${_lib}/pkgconfig:${AE_S390X_SYSROOT}/usr/share/pkgconfig)
# Programs linked by hand (the outside-program test) find the libraries here too.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-L${_lib} -Wl,-rpath-link,${_lib}")
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-s390x -L /usr/s390x-linux-gnu
    -E LD_LIBRARY_PATH=${_lib}:${AE_S390X_SYSROOT}/lib/s390x-linux-gnu)
