//! The first errors of a failed guest build, in the compiler's own words: file, line and
//! message, picked out of whatever the tool printed (clang's `file:line:col: error:`,
//! rustc's `error[E…]` with its `-->` location, a Python traceback's last frame in the
//! author's file with its exception, node's `file:line` with its `SyntaxError`). A tool's
//! own stack trace (componentize-py prints 30 frames of its Rust and C internals) is noise
//! to a skill author, so it never reaches them when an error was found.
//!
//! Hand-written line matching rather than a crate: each tool's format is one or two line
//! shapes, and there is no crate that knows all four.

use std::path::Path;

/// Most errors shown.
pub const MAX_ERRORS: usize = 5;

/// The first errors found in `output`, paths shown relative to `dir` where they lie in it.
pub fn first_errors(output: &str, dir: Option<&Path>) -> Vec<String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() && found.len() < MAX_ERRORS {
        let line = lines[i];
        let error = clang_error(line)
            .or_else(|| rustc_error(&lines, i))
            .or_else(|| traceback_error(&lines, i));
        if let Some(e) = error {
            let e = relative(&e, dir);
            // One error per place: Python repeats its exception under "Caused by:".
            let place = |x: &str| x.split(": ").next().unwrap_or("").to_string();
            if !found.iter().any(|f: &String| place(f) == place(&e)) {
                found.push(e);
            }
        }
        i += 1;
    }
    found
}

fn relative(text: &str, dir: Option<&Path>) -> String {
    let mut text = text.to_string();
    if let Some(dir) = dir {
        let prefix = format!("{}/", dir.display());
        text = text.replace(&prefix, "");
    }
    // componentize-py shows the skill's folder as `/0/`.
    text.strip_prefix("/0/").map(String::from).unwrap_or(text)
}

/// `file:line:col: error: message` (clang, wasm-ld, and rustc's short form).
fn clang_error(line: &str) -> Option<String> {
    let at = line
        .find(": error: ")
        .or_else(|| line.find(": fatal error: "))?;
    let location = &line[..at];
    let mut parts = location.rsplitn(3, ':');
    let (col, row) = (parts.next()?, parts.next()?);
    let file = parts.next()?;
    (col.parse::<u32>().is_ok() && row.parse::<u32>().is_ok() && !file.is_empty())
        .then(|| line.trim().to_string())
}

/// rustc: `error[E0425]: message` then ` --> src/lib.rs:10:5` within a few lines.
fn rustc_error(lines: &[&str], i: usize) -> Option<String> {
    let line = lines[i];
    let message = line
        .strip_prefix("error: ")
        .or_else(|| line.strip_prefix("error[").map(|_| line))?;
    if message.starts_with("could not compile")
        || message.starts_with("aborting due to")
        || message.contains("previous error")
    {
        return None;
    }
    let location = lines[i + 1..]
        .iter()
        .take(3)
        .find_map(|l| l.trim_start().strip_prefix("--> "))?;
    let message = if line.starts_with("error[") {
        line.to_string()
    } else {
        format!("error: {message}")
    };
    Some(format!("{}: {message}", location.trim()))
}

/// A Python traceback (`File "app.py", line 22` … `SyntaxError: invalid syntax`) or node's
/// syntax check (`/dir/skill.js:5` … `SyntaxError: Unexpected token ';'`): the exception
/// line, located at the last frame before it that is not the tool's own code.
fn traceback_error(lines: &[&str], i: usize) -> Option<String> {
    let exception = exception_line(lines[i])?;
    let location = lines[..i].iter().rev().take(40).find_map(|l| frame(l))?;
    Some(format!("{location}: {exception}"))
}

fn exception_line(line: &str) -> Option<&str> {
    let line = line.trim();
    // `AssertionError:   File …` is componentize-py's wrapper, not the author's error.
    let (name, message) = line.split_once(": ")?;
    let is_exception = (name.ends_with("Error") || name.ends_with("Exception"))
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    (is_exception && !message.trim_start().starts_with("File ")).then_some(line)
}

/// `File "path", line N` (Python) or `path:N` (node), unless the path is the tool's.
fn frame(line: &str) -> Option<String> {
    let t = line.trim();
    let (file, row) = if let Some(rest) = t.find("File \"").map(|at| &t[at + 6..]) {
        let (file, rest) = rest.split_once('"')?;
        let row = rest.trim_start_matches(", line ").split(',').next()?.trim();
        (file, row)
    } else if t.contains(':') && !t.contains(' ') {
        t.rsplit_once(':')?
    } else {
        return None;
    };
    let tool = [
        "site-packages",
        "node_modules",
        "/venv/",
        "<frozen",
        "node:internal",
    ];
    (row.parse::<u32>().is_ok() && !tool.iter().any(|x| file.contains(x)))
        .then(|| format!("{file}:{row}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What componentize-py 0.x printed here for a syntax error in app.py (the backtrace cut).
    const PYTHON: &str = r#"Traceback (most recent call last):
  File "/root/.cache/hyper-guest-tools/venv/bin/componentize-py", line 8, in <module>
    sys.exit(script())
             ^^^^^^^^
AssertionError:   File "/0/app.py", line 22
    def broken(:
               ^
SyntaxError: invalid syntax


Caused by:
    SyntaxError: invalid syntax (app.py, line 22)

Stack backtrace:
   0: <anyhow::Error>::msg::<alloc::string::String>
   1: anyhow::__private::format_err
  10: cfunction_vectorcall_NOARGS
             at /tmp/python-build/Python-3.11.7/Objects/methodobject.c:486:24
"#;

    #[test]
    fn a_python_syntax_error_is_the_authors_file_line_and_message() {
        assert_eq!(
            first_errors(PYTHON, None),
            ["app.py:22: SyntaxError: invalid syntax"]
        );
    }

    #[test]
    fn node_syntax_check_names_the_line() {
        let out = "/w/s/skill.js:5\nlet x = (;\n         ^\n\nSyntaxError: Unexpected token ';'\n    at checkSyntax (node:internal/main/check_syntax:74:5)\n\nNode.js v20.20.2\n";
        assert_eq!(
            first_errors(out, Some(Path::new("/w/s"))),
            ["skill.js:5: SyntaxError: Unexpected token ';'"]
        );
    }

    #[test]
    fn clang_and_rustc_errors_keep_their_locations() {
        let clang = "/w/s/skill.c:12:5: error: use of undeclared identifier 'x'\n    x = 1;\n    ^\n/w/s/skill.c:14:1: error: expected '}'\n2 errors generated.\n";
        assert_eq!(
            first_errors(clang, Some(Path::new("/w/s"))),
            [
                "skill.c:12:5: error: use of undeclared identifier 'x'",
                "skill.c:14:1: error: expected '}'"
            ]
        );
        let rustc = "   Compiling x v0.1.0\nerror[E0425]: cannot find value `y` in this scope\n  --> src/lib.rs:10:5\n   |\n10 |     y\n\nerror: could not compile `x` (lib) due to 1 previous error\n";
        assert_eq!(
            first_errors(rustc, None),
            ["src/lib.rs:10:5: error[E0425]: cannot find value `y` in this scope"]
        );
    }

    #[test]
    fn output_without_a_recognisable_error_finds_nothing() {
        assert!(first_errors("Segmentation fault\n   0: frame\n", None).is_empty());
    }
}
