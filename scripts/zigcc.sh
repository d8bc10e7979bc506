#!/bin/sh
# The release wheel's C compiler and linker: zig's cc, linking against glibc 2.17's symbols
# (manylinux2014), as `maturin --zig` does. The Makefile names it in RUSTFLAGS (-Clinker) rather
# than letting --zig set cargo's linker: cargo folds a configured linker into every crate's
# -Cmetadata, hence its symbol names, and PGO finds functions by name, so the instrumented build
# (which cannot link with zig: zig cc takes rustc's `-u __llvm_profile_runtime` for a file) and
# this one must differ only in flags cargo leaves out of it. Needs ZIG_TARGET and MATURIN set.
#
# rustc links the unwinder as -lgcc_s. zig has no libgcc_s and links its own libunwind into the
# library instead, but glibc's pthread_exit unwinds with the system's libgcc_s, whose state the
# embedded _Unwind_* calls then misread: a thread that CPython ends at interpreter exit while in
# Rust frames crashed (SIGSEGV in 93 of 100 exits, tests_py/test_exit_paths.py). So -lgcc_s
# names the system's libgcc_s.so.1 (manylinux allows it), as a host-linked build has it.
gcc_s=$(${HOST_CC:-cc} -print-file-name=libgcc_s.so.1)
for arg; do
    shift
    if [ "$arg" = "-lgcc_s" ]; then set -- "$@" "$gcc_s"; else set -- "$@" "$arg"; fi
done
exec "${MATURIN:?}" zig cc -- -g -fno-sanitize=all -target "${ZIG_TARGET:?}" "$@"
