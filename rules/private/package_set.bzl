"""Declares a set of packages so that those of one nixpkgs share one Nix evaluation.

Used by `nixpkgs_packages` (WORKSPACE) and by the module extension (bzlmod), so that both
group packages the same way (see evaluation.bzl).
"""

load(":evaluation.bzl", "evaluation_group", "nixpkgs_evaluation", "plan_evaluations")
load(":package.bzl", "nixpkgs_package_rule")

def declare_package_set(packages):
    """Declares one nixpkgs_evaluation per nixpkgs, then the packages, each told its evaluation.

    Args:
      packages: list of (name, attrs) pairs; attrs are the package repository rule's
        (`repositories` already as a dict from label to Nix search path name).
    """
    plan = plan_evaluations(packages)
    for evaluation in plan.evaluations:
        nixpkgs_evaluation(
            name = evaluation.name,
            packages = evaluation.packages,
            repositories = evaluation.repositories,
            store = evaluation.store,
            nixopts = evaluation.nixopts,
        )
    for name, attrs in packages:
        if name in plan.labels:
            attrs = dict(attrs, evaluation = plan.labels[name])
        nixpkgs_package_rule(name = name, **attrs)

def declare_package(name, attrs):
    """Declares one package (a WORKSPACE's own `nixpkgs_package` call), grouped with those before it.

    Under WORKSPACE, a repository declared twice takes its last declaration, and every macro call
    sees the repositories declared before it (`native.existing_rules`). So each package that can
    share its nixpkgs' evaluation declares that group's `nixpkgs_evaluation` again, with every
    package of the group declared so far and itself: the last declaration lists them all, and a
    WORKSPACE of separate calls evaluates each nixpkgs once, as `nixpkgs_packages` does. Where
    `native.existing_rules` is missing (a module extension), the package evaluates alone.

    Args:
      name: the package's repository name.
      attrs: the package repository rule's attributes.
    """
    group = evaluation_group(attrs) if hasattr(native, "existing_rules") else None
    if not group:
        nixpkgs_package_rule(name = name, **attrs)
        return
    members = {}
    for rule in native.existing_rules().values():
        if rule.get("evaluation") == group.name and rule.get("name") != name:
            members[rule["name"]] = rule.get("attribute_path") or rule["name"]
    members[name] = attrs.get("attribute_path") or name
    nixpkgs_evaluation(
        name = group.name,
        packages = members,
        repositories = group.repositories,
        store = group.store,
        nixopts = group.nixopts,
    )
    nixpkgs_package_rule(name = name, evaluation = group.name, **attrs)
