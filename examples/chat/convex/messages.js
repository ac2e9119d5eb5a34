// A chat: messages in channels, with a per-channel count kept by a scheduled mutation.
import { v } from "convex/values";
import { query, mutation, internalMutation } from "./_generated/server.js";
import { internal } from "./_generated/api.js";

/** The newest messages, newest first. */
export const list = query({
  args: { limit: v.optional(v.number()) },
  handler: async (ctx, { limit }) => {
    return await ctx.db.query("messages").order("desc").take(limit ?? 20);
  },
});

/** Every message of one channel, oldest first, through the `by_channel` index. */
export const byChannel = query({
  args: { channel: v.string() },
  handler: async (ctx, { channel }) => {
    return await ctx.db
      .query("messages")
      .withIndex("by_channel", (q) => q.eq("channel", channel))
      .collect();
  },
});

/** One message by id, or null. */
export const get = query({
  args: { id: v.id("messages") },
  handler: async (ctx, { id }) => await ctx.db.get(id),
});

/** Posts a message and schedules the channel's count to be bumped. */
export const send = mutation({
  args: { channel: v.string(), author: v.string(), body: v.string() },
  handler: async (ctx, message) => {
    if (message.body.trim() === "") {
      throw new Error("a message needs a body");
    }
    const id = await ctx.db.insert("messages", message);
    await ctx.scheduler.runAfter(0, internal.messages.bump, {
      channel: message.channel,
    });
    console.log("sent", message.channel);
    return id;
  },
});

/** Adds one to a channel's count: run by the scheduler, never from outside. */
export const bump = internalMutation({
  args: { channel: v.string() },
  handler: async (ctx, { channel }) => {
    const stats = await ctx.db
      .query("stats")
      .withIndex("by_channel", (q) => q.eq("channel", channel))
      .unique();
    if (stats === null) {
      await ctx.db.insert("stats", { channel, count: 1 });
    } else {
      await ctx.db.patch(stats._id, { count: stats.count + 1 });
    }
  },
});

/** A channel's message count, as the scheduled mutation keeps it. */
export const count = query({
  args: { channel: v.string() },
  handler: async (ctx, { channel }) => {
    const stats = await ctx.db
      .query("stats")
      .withIndex("by_channel", (q) => q.eq("channel", channel))
      .unique();
    return stats?.count ?? 0;
  },
});
