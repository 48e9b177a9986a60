"""SHA-256 without starting a process: the digest of a text a repository rule writes.

A package's inputs digest (lock.bzl) is a SHA-256 digest, needed on a fetch the evaluation
cache does not pin (fetch.bzl); `sha256sum` would cost a process (20-100 ms under load) per
package. `text_sha256` has Bazel's downloader hash the text's file (fetched from its own file://
URL, ~3 ms, no process, nothing cached); where that cannot be used it falls back to
`sha256_hex`, SHA-256 in Starlark (~0.08 s for 700 bytes on Bazel 4.2.3: 50 packages' digests
cost seconds of a warm fetch, hence the downloader first). Starlark's integers are arbitrary
precision on every Bazel this library supports, so the 32-bit arithmetic masks.
"""

_MASK = 0xffffffff

_K = [
    0x428a2f98,
    0x71374491,
    0xb5c0fbcf,
    0xe9b5dba5,
    0x3956c25b,
    0x59f111f1,
    0x923f82a4,
    0xab1c5ed5,
    0xd807aa98,
    0x12835b01,
    0x243185be,
    0x550c7dc3,
    0x72be5d74,
    0x80deb1fe,
    0x9bdc06a7,
    0xc19bf174,
    0xe49b69c1,
    0xefbe4786,
    0x0fc19dc6,
    0x240ca1cc,
    0x2de92c6f,
    0x4a7484aa,
    0x5cb0a9dc,
    0x76f988da,
    0x983e5152,
    0xa831c66d,
    0xb00327c8,
    0xbf597fc7,
    0xc6e00bf3,
    0xd5a79147,
    0x06ca6351,
    0x14292967,
    0x27b70a85,
    0x2e1b2138,
    0x4d2c6dfc,
    0x53380d13,
    0x650a7354,
    0x766a0abb,
    0x81c2c92e,
    0x92722c85,
    0xa2bfe8a1,
    0xa81a664b,
    0xc24b8b70,
    0xc76c51a3,
    0xd192e819,
    0xd6990624,
    0xf40e3585,
    0x106aa070,
    0x19a4c116,
    0x1e376c08,
    0x2748774c,
    0x34b0bcb5,
    0x391c0cb3,
    0x4ed8aa4a,
    0x5b9cca4f,
    0x682e6ff3,
    0x748f82ee,
    0x78a5636f,
    0x84c87814,
    0x8cc70208,
    0x90befffa,
    0xa4506ceb,
    0xbef9a3f7,
    0xc67178f2,
]

_H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]

_HEX = "0123456789abcdef"

# Every character 0-255 in order: Starlark strings of Bazel hold bytes as these characters, and
# Starlark has no ord().
_CHARS = "".join([
    "\000\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017",
    "\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037",
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_",
    "`abcdefghijklmnopqrstuvwxyz{|}~\177",
    "\200\201\202\203\204\205\206\207\210\211\212\213\214\215\216\217",
    "\220\221\222\223\224\225\226\227\230\231\232\233\234\235\236\237",
    "\240\241\242\243\244\245\246\247\250\251\252\253\254\255\256\257",
    "\260\261\262\263\264\265\266\267\270\271\272\273\274\275\276\277",
    "\300\301\302\303\304\305\306\307\310\311\312\313\314\315\316\317",
    "\320\321\322\323\324\325\326\327\330\331\332\333\334\335\336\337",
    "\340\341\342\343\344\345\346\347\350\351\352\353\354\355\356\357",
    "\360\361\362\363\364\365\366\367\370\371\372\373\374\375\376\377",
])

_BYTE = {c: i for i, c in enumerate(_CHARS.elems())}

_ASCII = {c: True for c in _CHARS[:128].elems()}

def _block(h, w):
    """One compression of the 16 words `w` into the state `h`; returns the new state.

    The rotations are written out (`(x >> n | x << (32 - n))`, masked once per sum): a Starlark
    function call per rotation made this twice as slow on Bazel 4.2.3.
    """
    for i in range(16, 64):
        x = w[i - 15]
        y = w[i - 2]
        s0 = ((x >> 7 | x << 25) ^ (x >> 18 | x << 14) ^ (x >> 3)) & _MASK
        s1 = ((y >> 17 | y << 15) ^ (y >> 19 | y << 13) ^ (y >> 10)) & _MASK
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & _MASK)
    a, b, c, d, e, f, g, hh = h
    for i in range(64):
        s1 = ((e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)) & _MASK
        t1 = (hh + s1 + ((e & f) ^ (~e & g & _MASK)) + _K[i] + w[i]) & _MASK
        s0 = ((a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)) & _MASK
        t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) & _MASK
        hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & _MASK, c, b, a, (t1 + t2) & _MASK
    return [(x + y) & _MASK for x, y in zip(h, [a, b, c, d, e, f, g, hh])]

def sha256_hex(text):
    """The SHA-256 of a text's bytes, in hex, as `sha256sum` prints it.

    Args:
      text: the text; each character stands for one byte (0-255), as Bazel's strings hold file
        contents and as ASCII is.

    Returns:
      64 lowercase hex digits.
    """
    data = [_BYTE[c] for c in text.elems()]
    n = len(data)
    data.append(0x80)
    for _ in range((55 - n) % 64):
        data.append(0)
    data.extend([((n * 8) >> (8 * i)) & 0xff for i in range(7, -1, -1)])
    h = list(_H0)
    for start in range(0, len(data), 64):
        w = [(data[start + 4 * j] << 24) | (data[start + 4 * j + 1] << 16) | (data[start + 4 * j + 2] << 8) | data[start + 4 * j + 3] for j in range(16)]
        h = _block(h, w)
    return "".join([_HEX[(x >> s) & 0xf] for x in h for s in range(28, -4, -4)])

# Nix's base32 digits (no e, o, u, t).
_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"

def nix_base32(hex_digest):
    """A digest given in hex, in Nix's base32 (as `nix-store --query --hash` prints NAR hashes).

    Args:
      hex_digest: the digest's bytes in hex (as `nix-store --dump-db` prints them).

    Returns:
      Nix's base32 text of the same bytes.
    """
    data = [_HEX.index(hex_digest[i]) * 16 + _HEX.index(hex_digest[i + 1]) for i in range(0, len(hex_digest), 2)]
    n = len(data)
    out = []
    for idx in range((n * 8 - 1) // 5, -1, -1):
        b = idx * 5
        i, j = b // 8, b % 8
        c = data[i] >> j
        if i + 1 < n:
            c = c | (data[i + 1] << (8 - j))
        out.append(_NIX32[c & 0x1f])
    return "".join(out)

# Characters a file:// URL's path may hold unescaped (RFC 3986 pchar, without % and ;).
_URL_PATH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/-._~+=,@"

def text_sha256(repository_ctx, text, path):
    """The SHA-256 of a text, written to a file of the repository, computed by Bazel.

    The file is fetched from its own file:// URL with `repository_ctx.download`, which hashes
    what it fetches (no checksum is given, so nothing enters the repository cache). An ASCII
    text's file holds exactly its characters, so the digest is `sha256_hex(text)`'s; a text with
    other characters, a path a URL would need escapes for, a downloader that refuses (a
    downloader configuration, `--repository_disable_download`), or a Bazel before 7.1 (which
    prints an INFO line for each such download) gets `sha256_hex(text)`.

    Args:
      repository_ctx: the repository context.
      text: the text.
      path: where to write it, relative to the repository (kept: callers may want the file).

    Returns:
      64 lowercase hex digits.
    """
    repository_ctx.file(path, text, executable = False)
    where = str(repository_ctx.path(path))

    # Bazel before 7 reports every download without a checksum ("INFO: SHA256 (file:...) = ..."):
    # lines a fetch would print per package. repository_ctx.watch tells Bazel 7.1 and later.
    quiet = hasattr(repository_ctx, "watch")
    plain = quiet and where.startswith("/") and not [c for c in where.elems() if c not in _URL_PATH]
    if plain and not [c for c in text.elems() if c not in _ASCII]:
        copy = where + ".sha256"
        result = repository_ctx.download("file://" + where, copy, allow_fail = True)
        repository_ctx.delete(copy)
        if result.success:
            return result.sha256
    return sha256_hex(text)
