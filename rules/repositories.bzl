"""WORKSPACE entry point of rules_nixstore.

    load("@rules_nixstore//rules:repositories.bzl", "rules_nixstore_dependencies")
    rules_nixstore_dependencies()
"""

def rules_nixstore_dependencies():
    """Declares the repositories rules_nixstore needs.

    Package repositories are self-contained (each copies the prebuilt launcher
    helper of rules/private/enter), so there is nothing to declare today; call it
    anyway, so that later versions can add dependencies without changing your
    WORKSPACE.
    """
    pass
