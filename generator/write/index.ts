/** Writing generated files: idempotent, atomic, confined to an output root; and --check. */
export * from "./paths.js";
export * from "./writer.js";
