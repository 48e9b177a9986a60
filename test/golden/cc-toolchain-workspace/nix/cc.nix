# The compiler of the golden case (never evaluated): a cc-wrapper.
{ ... }: (import ./wrapper.nix) (import <nixpkgs> { })
