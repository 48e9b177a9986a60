/** nixgen's single model of the rule library: rules, attributes and shared constants. */
export * from "./types.js";
export * from "./constants.js";
export * from "./rules.js";
export * from "./validate.js";
export * from "./api.js";
