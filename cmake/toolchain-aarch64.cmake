# Cross build for arm64 (aarch64) Linux on a Debian x86-64 host, with Debian's multiarch
# packages (.ci/install-deps --cross: dpkg --add-architecture arm64, crossbuild-essential-arm64,
# libopenblas-dev:arm64 libjansson-dev:arm64 zlib1g-dev:arm64 libcmocka-dev:arm64), and ctest
# running every test binary under qemu-user (qemu-aarch64 finds the arm64 libc in /lib):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#   cmake --build build-arm64 -j2 && ctest --test-dir build-arm64
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# The multiarch folders of / hold the arm64 libraries beside the host's: search / for
# libraries, headers and packages, but run the host's programs.
set(CMAKE_FIND_ROOT_PATH /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config reads the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
