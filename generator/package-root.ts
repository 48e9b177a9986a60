import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_NAME = "rules_nixstore";

interface PackageJson {
  readonly name?: string;
  readonly version?: string;
}

function readPackageJson(dir: string): PackageJson | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson;
  } catch {
    return null;
  }
}

let cachedRoot: string | undefined;

/**
 * The root of the rules_nixstore package that this code belongs to: the nearest directory
 * above this module with a package.json named "rules_nixstore". Works from the TypeScript
 * sources (vitest) and from the compiled `dist/generator/` alike.
 */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (readPackageJson(dir)?.name === PACKAGE_NAME) return (cachedRoot = dir);
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(
        `cannot find the ${PACKAGE_NAME} package root above ${fileURLToPath(import.meta.url)}`,
      );
    }
    dir = parent;
  }
}

/** Templates are read at run time from `<package root>/templates`; the build copies nothing. */
export function templatesDir(): string {
  return path.join(packageRoot(), "templates");
}

/** The version in the package's package.json. */
export function packageVersion(): string {
  const version = readPackageJson(packageRoot())?.version;
  if (!version) throw new Error(`${path.join(packageRoot(), "package.json")} has no version`);
  return version;
}
