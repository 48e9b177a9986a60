# The smoke test's whole "nixpkgs": one package, `smoke`, built from nothing but the host's
# static busybox (Debian: busybox-static), so it needs neither a network nor a nixpkgs.
#   nix-build --store /tmp/smoke-store --option substituters "" e2e/smoke/nix -A smoke
{ system ? builtins.currentSystem, ... }:

let
  binDir = if builtins.pathExists /usr/bin/busybox then /usr/bin else /bin;

  # A store path whose only file is `busybox` (it picks its applet from argv[0]'s name).
  busybox = builtins.path {
    path = binDir;
    name = "busybox-static-host";
    filter = path: type: baseNameOf path == "busybox";
  };
  bb = "${busybox}/busybox";

  # bin/smoke: a script whose interpreter is a store path, so it runs only where the
  # package's closure shows at /nix/store.
  smoke = derivation {
    name = "smoke";
    inherit system;
    builder = bb;
    args = [ "sh" "-e" "-c" ''
      ${bb} mkdir -p "$out/bin"
      printf '#!%s sh\nexec %s echo "smoke from nix" "$@"\n' ${bb} ${bb} > "$out/bin/smoke"
      ${bb} chmod 0555 "$out/bin/smoke"
    '' ];
  };
in
{
  inherit smoke;
}
