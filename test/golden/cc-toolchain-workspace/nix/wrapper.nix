pkgs: pkgs.stdenv.cc
