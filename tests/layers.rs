//! The crate map in `src/lib.rs` lists the modules ground floor first, and each may use only
//! those above it. This reads every source file and fails on a `crate::` path that reaches up
//! a floor (test code aside), so the rule holds without anyone having to remember it.

use std::path::Path;

fn floors() -> Vec<String> {
    let lib = std::fs::read_to_string("src/lib.rs").expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! - [`"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = entry.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module names a source text reaches with `crate::name`.
fn reached(text: &str) -> Vec<&str> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn no_module_reaches_up_a_floor() {
    let floors = floors();
    assert!(floors.len() > 20, "the crate map in src/lib.rs: {floors:?}");
    let rank = |m: &str| floors.iter().position(|f| f == m);
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let mut up = Vec::new();
    for f in &files {
        let rel = f.strip_prefix("src").expect("under src");
        let top = rel.components().next().expect("a file");
        let top = top
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(mine) = rank(&top) else { continue };
        let text = std::fs::read_to_string(f).expect("read");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for m in reached(code) {
            if rank(m).is_some_and(|theirs| theirs > mine) {
                up.push(format!("{} -> {m}", f.display()));
            }
        }
    }
    up.sort();
    up.dedup();
    assert!(up.is_empty(), "modules reaching up a floor: {up:#?}");
}
