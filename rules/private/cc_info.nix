# The C/C++ toolchain of nixpkgs_cc_configure, described for Bazel (rules_nixstore).
#
# Builds one small derivation whose files name what the toolchain repository needs: the path of
# each tool, the compiler's built-in include directories, the flags it accepts, and the store
# paths that programs it links need at run time. Its closure is the compiler's whole closure
# (the files name the compiler, its binutils and its C library), so the repository lays out
# everything a compile or link action runs. The compiler runs here only inside the Nix build.
#
#   cc:       the compiler: a nixpkgs cc-wrapper (stdenv.cc) or an environment exposing one.
#   pkgs:     the nixpkgs that provides runCommand.
#   ccLang:   the -x language of the include probe besides C.
{ cc, pkgs, ccLang ? "c++" }:

let
  bintools = cc.bintools or cc;
  # What programs linked by this compiler load at run time: its C library and the compiler's
  # runtime (libstdc++, libgcc_s). Unknown for an environment that hides them: its whole closure.
  runtime =
    if cc ? libc then [ cc.libc ] ++ (if cc ? cc && cc.cc ? lib then [ cc.cc.lib ] else [ ])
    else [ cc ];
  # The static C library, where nixpkgs keeps it apart (glibc.static): tools for the exec
  # platform are linked statically.
  staticLibc = if cc ? libc && cc.libc ? static then [ cc.libc.static ] else [ ];
in
pkgs.runCommand "nixstore-cc-toolchain-info" {
  inherit cc bintools ccLang;
  runtime = toString runtime;
  staticLibc = toString staticLibc;
  # runtime-graph-<i>: the closure of each runtime path (Nix writes it into the build directory).
  exportReferencesGraph = builtins.concatLists
    (builtins.genList (i: [ "runtime-graph-${toString i}" (builtins.elemAt runtime i) ]) (builtins.length runtime));
} ''
  # Checked before $out exists: Nix 2.8 leaves a failed build's partial output in the host's
  # /nix/store when it builds into another store.
  if ! [ -x "$cc/bin/cc" ]; then
    echo "$cc has no bin/cc: attribute_path must name a C compiler (a cc-wrapper such as stdenv.cc)" >&2
    exit 1
  fi
  mkdir -p "$out"

  # tools: "<name> <path>" for each tool found in the compiler or its binutils.
  for t in cc c++ cpp ar ld nm objcopy objdump strip gcov dwp llvm-cov; do
    for d in "$cc" "$bintools"; do
      if [ -x "$d/bin/$t" ] && ! [ -d "$d/bin/$t" ]; then
        echo "$t $d/bin/$t" >> "$out/tools"
        break
      fi
    done
  done

  # include_dirs: the built-in include directories of C and of $ccLang, as the compiler lists them.
  probe_includes() {
    "$cc/bin/cc" -E -x "$1" - -v < /dev/null 2>&1 |
      sed -n -e '/^#include <\.\.\.> search starts here:/,/^End of search list/p' |
      sed -e '1d' -e '$d' -e 's/^ *//' -e 's/ (framework directory)$//'
  }
  { probe_includes c; probe_includes "$ccLang"; } | sort -u > "$out/include_dirs"
  if ! [ -s "$out/include_dirs" ]; then
    echo "$cc/bin/cc -E -v listed no include directory" >&2
    exit 1
  fi

  # Flags: those the compiler accepts without a word, one per line, per file.
  echo 'int main(void) { return 0; }' > probe.c
  accepts() {
    "$cc/bin/cc" "$@" probe.c -o probe.out > probe.log 2>&1 && ! [ -s probe.log ]
  }
  for f in -fstack-protector -Wall -Wunused-but-set-parameter -Wno-free-nonheap-object -fno-omit-frame-pointer; do
    if accepts -c -Werror "$f"; then echo "$f" >> "$out/compile_flags"; fi
  done
  for f in -fno-canonical-system-headers -no-canonical-prefixes -Wno-builtin-macro-redefined; do
    if accepts -c "$f"; then echo "$f" >> "$out/unfiltered_compile_flags"; fi
  done
  for f in -Wl,-no-as-needed -Wl,-z,relro,-z,now -pass-exit-codes; do
    if accepts "$f"; then echo "$f" >> "$out/link_flags"; fi
  done
  for f in -Wl,--gc-sections; do
    if accepts "$f"; then echo "$f" >> "$out/opt_link_flags"; fi
  done
  touch "$out/compile_flags" "$out/unfiltered_compile_flags" "$out/link_flags" "$out/opt_link_flags"
  if "$cc/bin/cc" --version 2>/dev/null | head -n 1 | grep -qi clang; then
    echo clang > "$out/compiler"
  else
    echo gcc > "$out/compiler"
  fi

  # runtime: the store paths programs linked here load (their closure travels with tests and runs).
  for p in $runtime; do echo "$p" >> "$out/runtime"; done
  cat runtime-graph-* | grep '^/nix/store/' | grep -v '\.drv$' | sort -u > "$out/runtime_closure"
  for p in $staticLibc; do echo "$p" >> "$out/static_libc"; done
  touch "$out/static_libc"
''
