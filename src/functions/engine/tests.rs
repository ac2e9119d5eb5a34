//! The engine against hand-written bundles shaped like Convex's (flags and `invoke*` on each
//! exported function) and against the example app's real esbuild bundle.

use super::*;

const APP: &str = r#"
const fn = (kind, body, extra = {}) => ({
  [kind === "query" ? "isQuery" : "isMutation"]: true,
  isPublic: true,
  exportArgs: () => '{"type":"any"}',
  [kind === "query" ? "invokeQuery" : "invokeMutation"]: async (a) => JSON.stringify(await body(JSON.parse(a))),
  ...extra,
});
export const t = {
  echo: fn("query", (a) => JSON.parse(Convex.syscall("test/echo", JSON.stringify(a)))),
  later: fn("query", async (a) => JSON.parse(await Convex.asyncSyscall("test/echo", JSON.stringify(a)))),
  refused: fn("query", () => Convex.syscall("test/refuse", "{}")),
  spin: fn("query", () => { for (;;) {} }),
  spinCaught: fn("query", () => { for (;;) { try { for (;;) {} } catch (e) {} } }),
  bomb: fn("query", () => { const a = []; for (;;) a.push(new Array(100000).fill(7)); }),
  boom: fn("mutation", () => { throw new TypeError("no such thing"); }),
  never: fn("query", () => new Promise(() => {})),
  clock: fn("query", () => [Date.now(), new Date().getTime(), Math.random()]),
  log: fn("query", () => { console.log("hi", 1, { a: 2 }); console.error("bad"); return null; }),
  global: fn("query", () => (globalThis.leak = (globalThis.leak || 0) + 1)),
  secret: { isQuery: true, isInternal: true, invokeQuery: async () => "1", exportArgs: () => '{"type":"any"}' },
  notAFunction: 5,
};
"#;

struct Echo(Vec<String>);

impl Host for Echo {
    fn syscall(&mut self, op: &str, args: &str) -> Result<String, String> {
        self.0.push(op.to_string());
        match op {
            "test/echo" => Ok(args.to_string()),
            _ => Err(format!("unknown op {op}")),
        }
    }
}

fn instance() -> Instance {
    let code = compile(APP).expect("compiles");
    let limits = Limits {
        heap_bytes: 16 << 20,
        call_time: Duration::from_millis(200),
    };
    Instance::new(&code, limits).expect("loads")
}

fn run(i: &mut Instance, name: &str, args: &str) -> Called {
    i.call(&mut Echo(Vec::new()), Kind::Query, name, args, 1_000, 7)
}

#[test]
fn calls_reach_the_host_and_values_come_back() {
    let mut i = instance();
    let c = run(&mut i, "t:echo", r#"{"x":[1,"a"]}"#);
    assert_eq!(c.outcome, Outcome::Value(r#"{"x":[1,"a"]}"#.into()));
    let c = run(&mut i, "t:later", r#"{"y":null}"#);
    assert_eq!(c.outcome, Outcome::Value(r#"{"y":null}"#.into()));
}

#[test]
fn errors_are_the_functions_own() {
    let mut i = instance();
    let c = i.call(&mut Echo(vec![]), Kind::Mutation, "t:boom", "{}", 0, 0);
    assert_eq!(
        c.outcome,
        Outcome::Threw {
            message: "Uncaught TypeError: no such thing".into(),
            data: None
        }
    );
    let c = run(&mut i, "t:refused", "{}");
    assert!(
        matches!(&c.outcome, Outcome::Threw { message, .. } if message.contains("unknown op test/refuse")),
        "{c:?}"
    );
    let c = run(&mut i, "t:missing", "{}");
    assert!(
        matches!(&c.outcome, Outcome::Threw { message, .. } if message.contains("no function `t:missing`"))
    );
    let c = run(&mut i, "t:notAFunction", "{}");
    assert!(matches!(c.outcome, Outcome::Threw { .. }));
    let c = run(&mut i, "t:never", "{}");
    assert!(
        matches!(&c.outcome, Outcome::Threw { message, .. } if message.contains("never finishes"))
    );
    assert!(!i.broken);
}

#[test]
fn time_and_randomness_are_fixed_per_call() {
    let mut i = instance();
    let a = run(&mut i, "t:clock", "{}");
    let b = run(&mut i, "t:clock", "{}");
    assert_eq!(a.outcome, b.outcome, "same seed and time, same answer");
    let Outcome::Value(v) = a.outcome else {
        panic!("{a:?}")
    };
    assert!(v.starts_with("[1000,1000,0."), "{v}");
}

#[test]
fn console_lines_are_captured_per_call() {
    let mut i = instance();
    let c = run(&mut i, "t:log", "{}");
    assert_eq!(c.logs, vec!["[LOG] 'hi' 1 {\"a\":2}", "[ERROR] 'bad'"]);
    assert!(run(&mut i, "t:echo", "{}").logs.is_empty());
}

#[test]
fn a_runaway_loop_stops_at_the_deadline() {
    let mut i = instance();
    for name in ["t:spin", "t:spinCaught"] {
        let started = Instant::now();
        let c = run(&mut i, name, "{}");
        assert!(
            matches!(&c.outcome, Outcome::Limit(m) if m.contains("longer than 200 ms")),
            "{name}: {c:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(i.broken);
    }
    // A fresh runtime answers again.
    let mut i = instance();
    assert!(matches!(
        run(&mut i, "t:echo", "1").outcome,
        Outcome::Value(_)
    ));
}

#[test]
fn an_allocation_bomb_stops_at_the_heap_limit() {
    let mut i = instance();
    let c = run(&mut i, "t:bomb", "{}");
    assert!(
        matches!(&c.outcome, Outcome::Limit(m) if m.contains("16 MiB")),
        "{c:?}"
    );
    assert!(i.broken);
}

#[test]
fn runtimes_share_nothing() {
    let (mut a, mut b) = (instance(), instance());
    assert_eq!(
        run(&mut a, "t:global", "{}").outcome,
        Outcome::Value("1".into())
    );
    assert_eq!(
        run(&mut a, "t:global", "{}").outcome,
        Outcome::Value("2".into())
    );
    assert_eq!(
        run(&mut b, "t:global", "{}").outcome,
        Outcome::Value("1".into())
    );
}

#[test]
fn a_bundle_that_does_not_compile_or_load_says_why() {
    let e = compile("export const = 1;").expect_err("syntax");
    assert!(
        e.contains("SyntaxError") || e.to_lowercase().contains("expect"),
        "{e}"
    );
    let code = compile("throw new Error('at load');").expect("compiles");
    let e = Instance::new(&code, Limits::default())
        .err()
        .expect("load fails");
    assert!(e.contains("at load"), "{e}");
    let code = compile("for (;;) {}").expect("compiles");
    let limits = Limits {
        heap_bytes: 16 << 20,
        call_time: Duration::from_millis(50),
    };
    let e = Instance::new(&code, limits).err().expect("load stops");
    assert!(e.contains("longer than 200 ms"), "{e}");
}

#[test]
fn describe_lists_functions_with_kind_and_visibility() {
    let i = instance();
    let d = i.describe().expect("describes");
    assert!(
        d.contains(
            r#"{"name":"t:boom","kind":"mutation","visibility":"public","args":{"type":"any"}}"#
        ),
        "{d}"
    );
    assert!(
        d.contains(r#""name":"t:secret","kind":"query","visibility":"internal""#),
        "{d}"
    );
    assert!(!d.contains("notAFunction"));
}

#[test]
fn the_example_apps_real_bundle_loads_and_describes_itself() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chat/app/convex");
    let source = std::fs::read_to_string(dir.join("bundle.mjs")).expect("bundle");
    let started = Instant::now();
    let code = compile(&source).expect("compiles");
    let compiled = started.elapsed();
    let started = Instant::now();
    let i = Instance::new(&code, Limits::default()).expect("loads");
    let loaded = started.elapsed();
    let d = i.describe().expect("describes");
    for name in [
        "messages:list",
        "messages:send",
        "messages:bump",
        "messages:byChannel",
    ] {
        assert!(d.contains(&format!("\"name\":\"{name}\"")), "{name} in {d}");
    }
    assert!(d.contains(r#""name":"messages:bump","kind":"mutation","visibility":"internal""#));
    eprintln!(
        "compile {compiled:?}, load {loaded:?}, bytecode {} bytes",
        code.len()
    );
}
