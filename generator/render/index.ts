/** Rendering: Handlebars templates plus Starlark literal helpers. */
export * from "./engine.js";
export * from "./starlark.js";
