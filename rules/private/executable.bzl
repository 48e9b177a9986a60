"""nixstore_executable: a runnable target for one executable of a Nix package, carrying its closure."""

load(":attrs.bzl", "EXECUTABLE_ALIAS_ATTRS", "EXECUTABLE_ALIAS_DOC", "EXECUTABLE_ATTRS", "EXECUTABLE_DOC")
load(":launch_data.bzl", "LAUNCH_SUFFIX", "launch_data")

def _repo_relative_prefix(files, marker):
    """Returns the part of a closure file's path before `marker`, or fails."""
    for f in files:
        i = f.path.find(marker)
        if i >= 0:
            return f.path[:i]
    fail("the closure of this executable holds no file under " + marker)

def _carried(ctx):
    """What carries the closure: (runfiles, exec_repo, the archive's path in the repository or None)."""
    if ctx.attr.run_argv and not ctx.files.closure and not ctx.file.nar:
        # A runtime with nothing to map (a toolchain that is not from Nix): runs the command.
        return [], ".", None
    if bool(ctx.files.closure) == bool(ctx.file.nar):
        fail("{}: give exactly one of closure and nar".format(ctx.label))
    if not ctx.file.nar:
        closure = ctx.files.closure
        exec_repo = _repo_relative_prefix(closure, "/nix/store/") if ctx.label.workspace_name else "."
        return closure, exec_repo, None
    nar = ctx.file.nar
    exec_repo = _repo_relative_prefix([nar], "/_nixstore/") if ctx.label.workspace_name else "."
    in_repo = nar.path[len(exec_repo) + 1:] if ctx.label.workspace_name else nar.short_path
    return [nar], exec_repo, in_repo

def _nixstore_executable_impl(ctx):
    launcher = ctx.actions.declare_file("_nixstore/" + ctx.label.name)
    data = ctx.actions.declare_file("_nixstore/" + ctx.label.name + LAUNCH_SUFFIX)
    closure, exec_repo, nar = _carried(ctx)

    # The launcher is `enter` itself (no shell): run under the launcher's path, it reads the data
    # file beside that path. The link's bytes are enter's, the same on every machine.
    ctx.actions.symlink(output = launcher, target_file = ctx.file.enter, is_executable = True)
    ctx.actions.write(data, launch_data(
        owner = "{} (nixstore_executable)".format(ctx.label),
        program = ctx.attr.program,
        runfiles_repo = ctx.label.workspace_name or ctx.workspace_name,
        exec_repo = exec_repo,
        nar = nar,
        nar_sha256 = ctx.attr.nar_sha256 if nar else None,
        run_argv = ctx.attr.run_argv,
    ))
    runfiles = ctx.runfiles(files = closure + [ctx.file.enter, data])
    return [DefaultInfo(
        executable = launcher,
        files = depset([launcher]),
        runfiles = runfiles,
    )]

nixstore_executable = rule(
    implementation = _nixstore_executable_impl,
    doc = EXECUTABLE_DOC,
    executable = True,
    attrs = EXECUTABLE_ATTRS,
)

def _nixstore_executable_alias_impl(ctx):
    actual = ctx.attr.actual[DefaultInfo]
    target = actual.files_to_run.executable
    data = [f for f in actual.default_runfiles.files.to_list() if f.basename == target.basename + LAUNCH_SUFFIX]
    if len(data) != 1:
        fail("{}: {} is not a launcher of nixstore_executable (no {} in its runfiles)".format(ctx.label, ctx.attr.actual.label, target.basename + LAUNCH_SUFFIX))
    launcher = ctx.actions.declare_file(ctx.label.name)
    launch = ctx.actions.declare_file(ctx.label.name + LAUNCH_SUFFIX)

    # The launcher reads its data beside the path it runs as: both are links to the actual's.
    ctx.actions.symlink(output = launcher, target_file = target, is_executable = True)
    ctx.actions.symlink(output = launch, target_file = data[0])
    return [DefaultInfo(
        executable = launcher,
        files = depset([launcher]),
        runfiles = ctx.runfiles(files = [launch]).merge(actual.default_runfiles),
    )]

nixstore_executable_alias = rule(
    implementation = _nixstore_executable_alias_impl,
    doc = EXECUTABLE_ALIAS_DOC,
    executable = True,
    attrs = EXECUTABLE_ALIAS_ATTRS,
)
