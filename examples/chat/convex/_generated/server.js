// What `convex codegen` writes for a JavaScript app, without the types: the builders bound
// to this app's data model. Kept by hand so the example builds with no Convex deployment.
export {
  queryGeneric as query,
  internalQueryGeneric as internalQuery,
  mutationGeneric as mutation,
  internalMutationGeneric as internalMutation,
  actionGeneric as action,
  internalActionGeneric as internalAction,
  httpActionGeneric as httpAction,
} from "convex/server";
