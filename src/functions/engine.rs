//! The JavaScript engine (QuickJS through `rquickjs`): a deployed bundle compiled once to
//! bytecode ([`Program`]), and runtimes that run its functions ([`Instance`]), one per shard
//! and tenant in use, each under a heap limit and a per-call deadline.
//!
//! The bundle reaches its host only through the syscalls the prelude routes to one Rust
//! function. During a call that function reaches the caller's [`Host`] through a slot set for
//! the length of the call on this thread, so a runtime holds no reference to a store between
//! calls and one tenant's runtime can never reach another's data.

use rquickjs::module::WriteOptions;
use rquickjs::{Context, Ctx, Exception, Function, Module, Object, Promise, Runtime};
use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::{Duration, Instant};

const PRELUDE: &str = include_str!("prelude.js");

/// What a running function asks of the shard: one syscall, JSON in and out. An `Err` is
/// thrown into the function as an `Error` with that message.
pub trait Host {
    fn syscall(&mut self, op: &str, args: &str) -> Result<String, String>;
}

/// The bounds of one runtime and its calls.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub heap_bytes: usize,
    pub call_time: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            heap_bytes: 64 << 20,
            call_time: Duration::from_secs(1),
        }
    }
}

/// A function's kind, as the bundle marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Query,
    Mutation,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Mutation => "mutation",
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The value's Convex JSON.
    Value(String),
    /// The function threw: its message and, for a `ConvexError`, its data's JSON.
    Threw {
        message: String,
        data: Option<String>,
    },
    /// A limit stopped it (the message names the limit); the runtime must be rebuilt.
    Limit(String),
}

/// One call's result and the lines it logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Called {
    pub outcome: Outcome,
    pub logs: Vec<String>,
}

/// Compiles a bundle's source to module bytecode (done once per deployed generation).
pub fn compile(source: &str) -> Result<Vec<u8>, String> {
    let rt = Runtime::new().map_err(|e| e.to_string())?;
    rt.set_memory_limit(256 << 20);
    let ctx = Context::full(&rt).map_err(|e| e.to_string())?;
    ctx.with(|ctx| {
        let m = Module::declare(ctx.clone(), "bundle.mjs", source).map_err(|e| caught(&ctx, e))?;
        m.write(WriteOptions::default())
            .map_err(|e| caught(&ctx, e))
    })
}

thread_local! {
    /// The host of the call running on this thread, set only for the length of the call.
    static HOST: Cell<Option<NonNull<dyn Host + 'static>>> = const { Cell::new(None) };
}

/// Sets [`HOST`] for its lifetime and clears it again, also on unwinding.
struct HostSlot;

impl HostSlot {
    fn set(host: &mut dyn Host) -> HostSlot {
        let ptr: NonNull<dyn Host + '_> = NonNull::from(host);
        // SAFETY: the pointer is erased to 'static only to sit in the slot; the slot is
        // cleared when this guard drops, before the borrow it came from ends, and it is read
        // only by `syscall` below, on this thread, while the guard lives.
        let ptr: NonNull<dyn Host + 'static> = unsafe { std::mem::transmute(ptr) };
        HOST.with(|h| h.set(Some(ptr)));
        HostSlot
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        HOST.with(|h| h.set(None));
    }
}

/// The one Rust function the prelude's `Convex.*` call.
fn syscall<'js>(ctx: Ctx<'js>, op: String, args: String) -> rquickjs::Result<String> {
    let Some(mut host) = HOST.with(Cell::get) else {
        return Err(Exception::throw_message(
            &ctx,
            "the database is not available outside a function call",
        ));
    };
    // SAFETY: see `HostSlot::set`; no other reference to the host is live while JavaScript
    // runs (the caller is inside `Instance::call`, waiting on it).
    let host = unsafe { host.as_mut() };
    host.syscall(&op, &args)
        .map_err(|msg| Exception::throw_message(&ctx, &msg))
}

/// The message of an error from `rquickjs`, with the pending exception's text when there is
/// one.
fn caught(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if !matches!(e, rquickjs::Error::Exception) {
        return e.to_string();
    }
    let v = ctx.catch();
    if let Some(ex) = v.as_exception() {
        let msg = ex.message().unwrap_or_default();
        return match ex.stack() {
            Some(stack) if !stack.is_empty() => format!("{msg}\n{stack}"),
            _ => msg,
        };
    }
    v.as_string()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| "an exception was thrown".to_string())
}

/// A runtime with the app loaded: calls run in it one at a time.
pub struct Instance {
    // Field order is drop order: the context before its runtime.
    ctx: Context,
    rt: Runtime,
    limits: Limits,
    deadline: Rc<Cell<Option<Instant>>>,
    /// Set by the interrupt handler when it stopped a call at its deadline.
    interrupted: Rc<Cell<bool>>,
    /// A limit was hit: the runtime's state can no longer be trusted.
    pub broken: bool,
}

impl Instance {
    /// A fresh runtime with the prelude and the app's module evaluated, within `limits`
    /// (loading gets four times the call time: module bodies run once, at load).
    pub fn new(bytecode: &[u8], limits: Limits) -> Result<Instance, String> {
        let rt = Runtime::new().map_err(|e| e.to_string())?;
        rt.set_memory_limit(limits.heap_bytes);
        rt.set_max_stack_size(1 << 20);
        let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let interrupted = Rc::new(Cell::new(false));
        let (d, i) = (deadline.clone(), interrupted.clone());
        rt.set_interrupt_handler(Some(Box::new(move || {
            let late = d.get().is_some_and(|at| Instant::now() >= at);
            if late {
                i.set(true);
            }
            late
        })));
        let ctx = Context::full(&rt).map_err(|e| e.to_string())?;
        let instance = Instance {
            ctx,
            rt,
            limits,
            deadline,
            interrupted,
            broken: false,
        };
        instance
            .deadline
            .set(Some(Instant::now() + limits.call_time * 4));
        let loaded = instance.load(bytecode);
        instance.deadline.set(None);
        if instance.interrupted.get() {
            return Err(format!(
                "loading the bundle took longer than {} ms",
                (limits.call_time * 4).as_millis()
            ));
        }
        loaded.map(|()| instance)
    }

    fn load(&self, bytecode: &[u8]) -> Result<(), String> {
        self.ctx.with(|ctx| {
            let setup: Function = ctx.eval(PRELUDE).map_err(|e| caught(&ctx, e))?;
            let host = Function::new(ctx.clone(), syscall).map_err(|e| caught(&ctx, e))?;
            setup.call::<_, ()>((host,)).map_err(|e| caught(&ctx, e))?;
            // SAFETY: the bytes are what `compile` wrote with this same QuickJS build.
            let module =
                unsafe { Module::load(ctx.clone(), bytecode) }.map_err(|e| caught(&ctx, e))?;
            let (module, done) = module.eval().map_err(|e| caught(&ctx, e))?;
            done.finish::<()>().map_err(|e| caught(&ctx, e))?;
            let ns = module.namespace().map_err(|e| caught(&ctx, e))?;
            let nimbus: Object = ctx.globals().get("__nimbus").map_err(|e| caught(&ctx, e))?;
            nimbus.set("app", ns).map_err(|e| caught(&ctx, e))
        })
    }

    /// The app's functions and routes as JSON `{"functions": [...], "routes": [...]}`.
    pub fn describe(&self) -> Result<String, String> {
        self.ctx.with(|ctx| {
            let nimbus: Object = ctx.globals().get("__nimbus").map_err(|e| caught(&ctx, e))?;
            let f: Function = nimbus.get("describe").map_err(|e| caught(&ctx, e))?;
            f.call::<_, String>(()).map_err(|e| caught(&ctx, e))
        })
    }

    /// Runs function `name` with `args` (Convex JSON text), reaching `host` for its syscalls.
    pub fn call(
        &mut self,
        host: &mut dyn Host,
        kind: Kind,
        name: &str,
        args: &str,
        now_ms: u64,
        seed: u32,
    ) -> Called {
        let _slot = HostSlot::set(host);
        self.interrupted.set(false);
        self.deadline
            .set(Some(Instant::now() + self.limits.call_time));
        let ran = self.run(kind, name, args, now_ms, seed);
        self.deadline.set(None);
        let logs = self.take_logs();
        let outcome = match ran {
            _ if self.interrupted.get() => Outcome::Limit(format!(
                "the function ran longer than {} ms, the most one call may run",
                self.limits.call_time.as_millis()
            )),
            Err(msg) if msg.contains("out of memory") => Outcome::Limit(format!(
                "the function used more than {} MiB of JavaScript heap, the most a runtime may use",
                self.limits.heap_bytes >> 20
            )),
            Err(msg) if msg.contains("stack overflow") => {
                Outcome::Limit("the function overflowed the JavaScript stack".to_string())
            }
            Err(msg) => Outcome::Threw {
                message: msg,
                data: None,
            },
            Ok(o) => o,
        };
        if matches!(outcome, Outcome::Limit(_)) {
            self.broken = true;
        }
        Called { outcome, logs }
    }

    fn run(
        &self,
        kind: Kind,
        name: &str,
        args: &str,
        now_ms: u64,
        seed: u32,
    ) -> Result<Outcome, String> {
        self.ctx.with(|ctx| {
            let nimbus: Object = ctx.globals().get("__nimbus").map_err(|e| caught(&ctx, e))?;
            let run: Function = nimbus.get("run").map_err(|e| caught(&ctx, e))?;
            let promise: Promise = run
                .call((kind.as_str(), name, args, now_ms as f64, seed as i32))
                .map_err(|e| caught(&ctx, e))?;
            let ok = match promise.finish::<bool>() {
                Ok(ok) => ok,
                Err(rquickjs::Error::WouldBlock) => {
                    return Ok(Outcome::Threw {
                        message: "the function awaited something that never finishes".to_string(),
                        data: None,
                    })
                }
                Err(e) => return Err(caught(&ctx, e)),
            };
            if ok {
                let out: String = nimbus.get("out").map_err(|e| caught(&ctx, e))?;
                return Ok(Outcome::Value(out));
            }
            let err: Object = nimbus.get("err").map_err(|e| caught(&ctx, e))?;
            let message: String = err.get("message").map_err(|e| caught(&ctx, e))?;
            let data: Option<String> = err.get("data").map_err(|e| caught(&ctx, e))?;
            if message.contains("out of memory") || message.contains("stack overflow") {
                return Err(message);
            }
            Ok(Outcome::Threw { message, data })
        })
    }

    fn take_logs(&self) -> Vec<String> {
        self.ctx.with(|ctx| {
            let nimbus: Object = match ctx.globals().get("__nimbus") {
                Ok(n) => n,
                Err(_) => return Vec::new(),
            };
            let logs: Vec<String> = nimbus.get("logs").unwrap_or_default();
            let _ = nimbus.set("logs", rquickjs::Array::new(ctx.clone()));
            logs
        })
    }

    /// Bytes of JavaScript heap in use.
    pub fn heap_used(&self) -> u64 {
        self.rt.memory_usage().memory_used_size as u64
    }
}

#[cfg(test)]
mod tests;
