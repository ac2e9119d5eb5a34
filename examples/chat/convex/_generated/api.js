// What `convex codegen` writes for a JavaScript app: references to every function by name.
import { anyApi } from "convex/server";

export const api = anyApi;
export const internal = anyApi;
