"""Offline stand-in for buildozer's extension: a `buildozer_binary` repository with no targets."""

def _empty_repository_impl(repository_ctx):
    repository_ctx.file("BUILD.bazel", "# Offline stand-in: no buildozer binary.\n")

_empty_repository = repository_rule(
    implementation = _empty_repository_impl,
    doc = "An empty repository.",
)

def _buildozer_binary_impl(module_ctx):
    _empty_repository(name = "buildozer_binary")
    for mod in module_ctx.modules:
        for _ in mod.tags.buildozer:
            pass

buildozer_binary = module_extension(
    implementation = _buildozer_binary_impl,
    tag_classes = {"buildozer": tag_class(attrs = {"version": attr.string(), "sha256": attr.string_dict()})},
    doc = "Creates the repository `buildozer_binary` (empty).",
)
