"""Offline stand-in for @rules_cc on Debian's Bazel 4.2.3: re-exports the native C++ rules.

Debian's bazel-bootstrap wants to download @rules_cc (for @bazel_tools//tools/launcher,
pulled in by sh_binary and sh_test), and Debian's own rules_cc package is too new for
Bazel 4.2.3. `nixgen bazelrc` points --override_repository at this directory there.
"""

cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_proto_library = native.cc_proto_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
fdo_prefetch_hints = native.fdo_prefetch_hints
fdo_profile = native.fdo_profile
objc_import = native.objc_import
objc_library = native.objc_library
