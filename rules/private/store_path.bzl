"""Store paths and NAR hashes as Nix writes them: checks for names that come from outside (a lock file, a remote build's record).

The pattern's parts are constants.bzl's, which nixgen checks store paths with too (generator/model).
"""

load(
    ":constants.bzl",
    "LOGICAL_STORE_DIR",
    "STORE_HASH_LENGTH",
    _BASE32 = "NIX_BASE32_DIGITS",
    _NAME = "STORE_NAME_CHARACTERS",
)

# A store path: /nix/store/<hash>-<name>.
_STORE_PREFIX = LOGICAL_STORE_DIR + "/"
_HASH_LENGTH = STORE_HASH_LENGTH

def is_store_path(path):
    """Whether path is a store path, `/nix/store/<hash>-<name>`, as Nix names them.

    Args:
      path: a string from outside.

    Returns:
      A bool.
    """
    if type(path) != "string" or not path.startswith(_STORE_PREFIX):
        return False
    entry = path[len(_STORE_PREFIX):]
    digest, name = entry[:_HASH_LENGTH], entry[_HASH_LENGTH + 1:]
    return (
        len(entry) > _HASH_LENGTH + 1 and
        entry[_HASH_LENGTH] == "-" and
        not [c for c in digest.elems() if c not in _BASE32] and
        not name.startswith(".") and
        not [c for c in name.elems() if c not in _NAME]
    )

def store_path_name(path):
    """The entry of a store path in the store directory: `<hash>-<name>`.

    Args:
      path: a store path (see is_store_path).

    Returns:
      The path without `/nix/store/`.
    """
    return path[len(_STORE_PREFIX):]

def is_nar_hash(text):
    """Whether text is a NAR hash as `nix-store --query --hash` prints it: `sha256:` and 52 base32 digits.

    Args:
      text: a string from outside.

    Returns:
      A bool.
    """
    return type(text) == "string" and text.startswith("sha256:") and len(text) == 59 and not [c for c in text[7:].elems() if c not in _BASE32]
