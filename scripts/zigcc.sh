#!/bin/sh
# The release wheel's C compiler and linker: zig's cc, linking against glibc 2.17's symbols
# (manylinux2014), as `maturin --zig` does. The Makefile names it in RUSTFLAGS (-Clinker) rather
# than letting --zig set cargo's linker: cargo folds a configured linker into every crate's
# -Cmetadata, hence its symbol names, and PGO finds functions by name, so the instrumented build
# (which cannot link with zig: zig cc takes rustc's `-u __llvm_profile_runtime` for a file) and
# this one must differ only in flags cargo leaves out of it. Needs ZIG_TARGET and MATURIN set.
exec "${MATURIN:?}" zig cc -- -g -fno-sanitize=all -target "${ZIG_TARGET:?}" "$@"
