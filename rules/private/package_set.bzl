"""Declares a set of packages so that those of one nixpkgs share one Nix evaluation.

Used by `nixpkgs_packages` (WORKSPACE) and by the module extension (bzlmod), so that both
group packages the same way (see evaluation.bzl).
"""

load(":evaluation.bzl", "nixpkgs_evaluation", "plan_evaluations")
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
