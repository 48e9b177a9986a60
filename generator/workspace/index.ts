/** Workspace mode: the files a Bazel workspace's nixgen.config.ts generates, and its edits. */
export * from "./model.js";
export * from "./render.js";
export * from "./generate.js";
