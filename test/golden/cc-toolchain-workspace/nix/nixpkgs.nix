# The nixpkgs of the golden case (never evaluated).
import <nixpkgs>
