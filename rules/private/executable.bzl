"""nixstore_executable: a runnable target for one executable of a Nix package, carrying its closure."""

_DOC = """\
Runs `program` (a `/nix/store/...` path) through a launcher. Where `/nix/store` shows the
program (a real store, or the linux-sandbox with the generated `--sandbox_add_mount_pair`),
the launcher just `exec`s it; anywhere else (remote workers, `--spawn_strategy=local`) it maps
the closure, which this target carries as runfiles, read-only at `/nix/store` in a user +
mount namespace. Package repositories declare one per `bin/<exe>`.
"""

def _repo_relative_prefix(files, marker):
    """Returns the part of a closure file's path before `marker`, or fails."""
    for f in files:
        i = f.path.find(marker)
        if i >= 0:
            return f.path[:i]
    fail("the closure of this executable holds no file under " + marker)

def _nixstore_executable_impl(ctx):
    launcher = ctx.actions.declare_file("_nixstore/" + ctx.label.name)
    closure = ctx.files.closure
    exec_repo = _repo_relative_prefix(closure, "/nix/store/") if ctx.label.workspace_name else "."
    runfiles_repo = ctx.label.workspace_name or ctx.workspace_name
    ctx.actions.expand_template(
        template = ctx.file._template,
        output = launcher,
        substitutions = {
            "%{EXEC_REPO}": exec_repo,
            "%{PROGRAM}": ctx.attr.program,
            "%{RUNFILES_REPO}": runfiles_repo,
        },
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = closure + [ctx.file.enter])
    return [DefaultInfo(
        executable = launcher,
        files = depset([launcher]),
        runfiles = runfiles,
    )]

nixstore_executable = rule(
    implementation = _nixstore_executable_impl,
    doc = _DOC,
    executable = True,
    attrs = {
        "closure": attr.label(
            doc = "Every file of the program's runtime closure, laid out under `nix/store/` of the package repository.",
            mandatory = True,
            allow_files = True,
        ),
        "enter": attr.label(
            doc = "The `nixstore-enter` binary of the package repository, which maps the closure.",
            mandatory = True,
            allow_single_file = True,
            cfg = "target",
        ),
        "program": attr.string(
            doc = "The program's logical path, `/nix/store/<hash>-<name>/bin/<exe>`.",
            mandatory = True,
        ),
        "_template": attr.label(
            default = Label("//rules/private:launcher.sh.tpl"),
            allow_single_file = True,
        ),
    },
)
