"""What the modules of a build ask of the `nixstore` module extension, merged and checked.

A pure function of the modules' tags (no `module_ctx` call), so it can be tested with plain
structs standing in for modules and tags, and it loads on every Bazel.
"""

def _text(value):
    return str(value) if type(value) == "Label" else value

def _value(value):
    """A tag attribute's value with labels as text, comparable between modules.

    Tag attributes are flat: a label, a list of labels or strings, or a dict of strings.
    """
    if type(value) == "list":
        return [_text(v) for v in value]
    if type(value) == "dict":
        return {_text(k): _text(v) for k, v in value.items()}
    return _text(value)

def _module_text(module):
    if module.is_root:
        return "the root module" + (" ({})".format(module.name) if module.name else "")
    return "module {}{}".format(module.name, "@" + module.version if module.version else "")

def _request(module, tag_name, tag, attr_names):
    return struct(
        tag = tag_name,
        name = tag.name,
        attrs = {a: getattr(tag, a) for a in attr_names},
        module = _module_text(module),
        is_root = module.is_root,
    )

def _differences(first, second):
    lines = []
    for a in sorted(first.attrs.keys()):
        mine, theirs = _value(first.attrs[a]), _value(second.attrs[a])
        if mine != theirs:
            lines.append("    {}: {} in {}, {} in {}".format(a, repr(mine), first.module, repr(theirs), second.module))
    return lines

def _conflict(first, second):
    if first.tag != second.tag:
        return "nixstore: the repository name \"{}\" is declared by nixstore.{} in {} and by nixstore.{} in {}; give one of them another name.".format(
            first.name,
            first.tag,
            first.module,
            second.tag,
            second.module,
        )
    return "\n".join([
        "nixstore: {} and {} both declare nixstore.{}(name = \"{}\"), differently:".format(first.module, second.module, first.tag, first.name),
    ] + _differences(first, second) + [
        "  A name means one repository for the whole build: make the two requests equal, or give one another name.",
    ])

def _check_references(request, repository_tags, by_name):
    what = "nixstore.{}(name = \"{}\") in {}".format(request.tag, request.name, request.module)
    repository = request.attrs.get("repository", "")
    repositories = request.attrs.get("repositories", {})
    if repository and repositories:
        fail("{}: set repository or repositories, not both.".format(what))
    for nix_name, target in ({"nixpkgs": repository} if repository else repositories).items():
        other = by_name.get(target)
        if other == None or other.tag not in repository_tags:
            fail("{}: {} names \"{}\", which no nixstore.{} tag declares{}.".format(
                what,
                "repository" if repository else "repositories[\"{}\"]".format(nix_name),
                target,
                "/".join(sorted(repository_tags)),
                " (it is a {} tag)".format(other.tag) if other else "",
            ))

def parse_modules(modules, tag_attrs, consumer_tags):
    """Merges the tags of every module into one list of repositories to declare.

    Args:
      modules: `module_ctx.modules`, or structs with `name`, `version`, `is_root` and `tags`
        (a struct with one list of tags per tag class).
      tag_attrs: dict from tag class name to its attribute names (without `name`).
      consumer_tags: the tag classes that build from nixpkgs (packages, toolchains): their
        `repository`/`repositories` must name tags of the other classes.

    Returns:
      A list of struct(tag, name, attrs, module, is_root), one per repository name, in the
      order of first appearance (the root module first, as Bazel lists it).
    """
    by_name = {}
    order = []
    for module in modules:
        for tag_name in sorted(tag_attrs.keys()):
            for tag in getattr(module.tags, tag_name):
                request = _request(module, tag_name, tag, tag_attrs[tag_name])
                first = by_name.get(request.name)
                if first == None:
                    by_name[request.name] = request
                    order.append(request)
                elif first.tag != request.tag or _differences(first, request):
                    fail(_conflict(first, request))
    repository_tags = [t for t in tag_attrs.keys() if t not in consumer_tags]
    for request in order:
        if request.tag in consumer_tags:
            _check_references(request, repository_tags, by_name)
    return order
