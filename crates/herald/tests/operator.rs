//! What an operator meets in the first hour, tested on the real `herald` binary: commands run
//! from the wrong directory, a second server on one SQLite file, signals with stderr gone, log
//! formats, `herald doctor` on a machine without a route out, and docs that match the code.
//!
//! Every network target here is on loopback. Unix only (signals, file modes, `script`).
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "operator-test-admin-token-0123";

/// Drops inherited HERALD_* variables and NO_COLOR.
fn clean_environment(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("HERALD_") || key == "NO_COLOR" {
            cmd.env_remove(key);
        }
    }
}

/// The binary in `dir` with a clean environment: no configuration file, no inherited HERALD_*.
fn herald(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    clean_environment(&mut cmd);
    cmd.current_dir(dir).env("HERALD_CONFIG", "/dev/null");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Sends `signal` (TERM, INT) to `child`.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for `child` to exit, at most `limit`; kills it and fails otherwise.
fn wait_at_most(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running {limit:?} later");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `herald serve` on `database` (port 0) with stderr piped, and reads stderr until the
/// server says it listens. Returns the child, the reader and the lines read so far.
#[allow(clippy::zombie_processes)] // the caller signals and waits for the returned child
fn serve(
    dir: &Path,
    database: &Path,
    extra_env: &[(&str, &str)],
) -> (Child, BufReader<std::process::ChildStderr>, String) {
    let mut cmd = herald(dir);
    cmd.arg("serve")
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("HERALD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("HERALD_VAPID_SUBJECT", "mailto:ops@example.com")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let start = Instant::now();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not start:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("herald is listening") {
            return (child, reader, seen);
        }
    }
}

#[test]
fn commands_refuse_a_missing_database_name_it_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let expected = dir.path().canonicalize().unwrap().join("herald.db");
    for args in [
        &["notify", "--uid", "42", "--title", "hi"][..],
        &["cleanup"],
        &["reminders", "list"],
        &["subscriptions", "export"],
    ] {
        let out = herald(dir.path()).args(args).output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail: {stderr}");
        assert!(
            stderr.contains(&expected.display().to_string()),
            "{args:?} names the path: {stderr}"
        );
        assert!(
            stderr.contains("--config") && stderr.contains("HERALD_DATABASE_URL"),
            "{args:?} says how to point at the right one: {stderr}"
        );
        assert!(text(&out.stdout).is_empty(), "{args:?} printed {}", text(&out.stdout));
        assert!(
            files_in(dir.path()).is_empty(),
            "{args:?} created {:?}",
            files_in(dir.path())
        );
    }

    // A file that is not a Herald database (the PostgreSQL/MySQL case: no Herald tables).
    std::fs::write(dir.path().join("other.db"), b"").unwrap();
    let out = herald(dir.path())
        .args(["notify", "--uid", "42", "--title", "hi"])
        .env("HERALD_DATABASE_URL", "sqlite://other.db")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("has no Herald tables"),
        "{}",
        text(&out.stderr)
    );

    // `herald init` creates it (and shows the generated admin token once); then commands work.
    let out = herald(dir.path()).arg("init").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("created the Herald database"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("admin token (shown once"),
        "{}",
        text(&out.stderr)
    );
    assert!(expected.is_file());
    let out = herald(dir.path())
        .args(["notify", "--uid", "42", "--title", "hi"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("queued for 0 device(s)"));
    assert!(
        text(&out.stderr).contains("no subscribed device matches, so nothing will be delivered"),
        "says the message goes nowhere: {}",
        text(&out.stderr)
    );
    let out = herald(dir.path()).arg("init").output().unwrap();
    assert!(out.status.success() && text(&out.stdout).contains("already a Herald database"));
}

#[test]
fn a_second_server_on_one_sqlite_file_exits_naming_it_while_cli_commands_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("herald.db");
    let (mut first, _stderr, _) = serve(dir.path(), &database, &[]);

    let second = herald(dir.path())
        .arg("serve")
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("HERALD_ADMIN_TOKEN", ADMIN_TOKEN)
        .output()
        .unwrap();
    let stderr = text(&second.stderr);
    assert!(!second.status.success(), "a second server must not start: {stderr}");
    assert!(stderr.contains(&database.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(&format!("process {}", first.id())),
        "names the holder: {stderr}"
    );

    // Beside the running server, the CLI works on the same file.
    let out = herald(dir.path())
        .args(["notify", "--all", "everyone", "--title", "maintenance at 22:00"])
        .env("HERALD_DATABASE_URL", format!("sqlite://{}", database.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    signal(&first, "TERM");
    assert!(wait_at_most(&mut first, Duration::from_secs(20), "first server").success());
    // Once it is gone, the file is free for the next server.
    let (mut next, _stderr, _) = serve(dir.path(), &database, &[]);
    signal(&next, "TERM");
    assert!(wait_at_most(&mut next, Duration::from_secs(20), "next server").success());
}

#[test]
fn sigterm_and_sigint_stop_the_server_after_stderrs_reader_is_gone() {
    for sig in ["TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, stderr, _) = serve(dir.path(), &dir.path().join("herald.db"), &[]);
        // The log shipper goes away: every later log write meets a closed pipe.
        drop(stderr);
        signal(&child, sig);
        let status = wait_at_most(
            &mut child,
            Duration::from_secs(20),
            &format!("SIG{sig} with stderr closed"),
        );
        assert!(status.success(), "SIG{sig}: {status:?}");
    }
}

/// Runs a server with stderr into a file until it listens, then stops it; the file's bytes.
fn log_file_of_a_run(extra_env: &[(&str, &str)]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("herald.log");
    let mut cmd = herald(dir.path());
    cmd.arg("serve")
        .env("HERALD_LISTEN", "127.0.0.1:0")
        .env("HERALD_DATABASE_URL", "sqlite://herald.db")
        .env("HERALD_LOG", "herald=debug,info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&log).unwrap().contains("herald is listening") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no start: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, "TERM");
    assert!(wait_at_most(&mut child, Duration::from_secs(20), "server").success());
    let mut bytes = Vec::new();
    std::fs::File::open(&log).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

#[test]
fn file_logs_are_plain_and_json_logs_are_one_object_per_line() {
    // No HERALD_VAPID_SUBJECT and no admin token: the warning and the token notice are in it.
    let plain = log_file_of_a_run(&[]);
    assert!(!plain.contains(&0x1b), "ESC in a file log:\n{}", text(&plain));
    let plain = text(&plain);
    assert!(plain.contains("HERALD_VAPID_SUBJECT is not set") && plain.contains("admin token (shown once"));

    let json = text(&log_file_of_a_run(&[("HERALD_LOG_FORMAT", "json")]));
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{json}");
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["fields"]["message"].is_string(),
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("admin token (shown once")));
    assert!(!json.contains('\u{1b}'));

    let dir = tempfile::tempdir().unwrap();
    let out = herald(dir.path())
        .args(["keys", "generate"])
        .env("HERALD_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!out.status.success() && text(&out.stderr).contains("HERALD_LOG_FORMAT"));
}

/// Colours on a terminal unless NO_COLOR is set. `script` gives the server a pseudo-terminal.
#[test]
fn colours_only_on_a_terminal_and_never_with_no_color() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: colours_only_on_a_terminal needs util-linux `script` for a pseudo-terminal");
        return;
    }
    let run = |no_color: Option<&str>| -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("script");
        clean_environment(&mut cmd);
        cmd.args(["-q", "-e", "-c"])
            .arg(format!(
                "timeout 20 {} serve & sleep 3; kill -TERM $!; wait",
                env!("CARGO_BIN_EXE_herald")
            ))
            .arg("/dev/null")
            .current_dir(dir.path())
            .env("HERALD_CONFIG", "/dev/null")
            .env("HERALD_LISTEN", "127.0.0.1:0")
            .env("HERALD_DATABASE_URL", "sqlite://herald.db")
            .env("HERALD_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null());
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        text(&cmd.output().unwrap().stdout)
    };
    let coloured = run(None);
    assert!(coloured.contains("herald is listening"), "{coloured}");
    assert!(coloured.contains('\u{1b}'), "a terminal gets colours: {coloured:?}");
    let plain = run(Some("1"));
    assert!(plain.contains("herald is listening"), "{plain}");
    assert!(!plain.contains("\u{1b}["), "NO_COLOR: {plain:?}");
}

#[test]
fn doctor_offline_reports_quickly_and_fails_on_what_is_critical() {
    let dir = tempfile::tempdir().unwrap();
    // A "push service" that accepts TCP and never answers the TLS hello, and one that refuses.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_host = silent.local_addr().unwrap().to_string();
    let refused_host = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let no_server = refused_host.clone();
    let doctor = |extra: &[(&str, &str)]| -> (Output, Duration) {
        let mut cmd = herald(dir.path());
        cmd.args([
            "doctor",
            "--timeout",
            "2",
            "--push-host",
            &silent_host,
            "--push-host",
            &refused_host,
        ])
        .env("HERALD_LISTEN", &no_server);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let out = cmd.output().unwrap();
        (out, start.elapsed())
    };

    // No database yet: critical, and doctor creates none.
    let (out, _) = doctor(&[]);
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("CRITICAL database: no Herald database at"), "{stdout}");
    assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));

    assert!(herald(dir.path()).arg("init").output().unwrap().status.success());
    let database = dir.path().join("herald.db");
    assert_eq!(mode(&database), 0o600, "Herald creates its database for its user only");
    set_mode(&database, 0o644);
    let (out, elapsed) = doctor(&[]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        elapsed < Duration::from_secs(10),
        "probes run in parallel under --timeout: {elapsed:?}"
    );
    for expected in [
        "ok       database:",
        "ok       keys: VAPID key pair generated",
        "CRITICAL VAPID subject: HERALD_VAPID_SUBJECT is not set",
        "CRITICAL database permissions: readable by every user",
        &format!("warning  push service: {silent_host} (push service) is not reachable from here: TLS: no handshake within 2s"),
        &format!("warning  push service: {refused_host} (push service) is not reachable from here: TLS:"),
        "CRITICAL push services: none is reachable",
        "warning  clock: not checked",
        "warning  TLS in front: not checked",
        "warning  server: nothing answers",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert!(
        text(&out.stderr).contains("critical problem(s)"),
        "{}",
        text(&out.stderr)
    );

    // Fixed subject and permissions: those lines turn ok; an http public URL is critical.
    set_mode(&database, 0o600);
    let (out, _) = doctor(&[
        ("HERALD_VAPID_SUBJECT", "mailto:ops@example.com"),
        (
            "HERALD_PUSH_HOST_ALLOWLIST",
            "fcm.googleapis.com,*.push.services.mozilla.com",
        ),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("warning  push host allow-list: HERALD_PUSH_HOST_ALLOWLIST refuses subscriptions of Safari (Apple) (web.push.apple.com), legacy Edge (WNS)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok       VAPID subject: mailto:ops@example.com"),
        "{stdout}"
    );
    assert!(stdout.contains("ok       database permissions"), "{stdout}");
    let out = herald(dir.path())
        .args([
            "doctor",
            "--timeout",
            "1",
            "--push-host",
            &silent_host,
            "--public-url",
            "http://push.example.com",
        ])
        .env("HERALD_LISTEN", &no_server)
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("CRITICAL TLS in front: http://push.example.com is not https"));
    drop(silent);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Every `HERALD_*` name in the string literals of `dir`'s Rust files, with a file naming it.
fn settings_in_code(dir: &Path, found: &mut std::collections::BTreeMap<String, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            settings_in_code(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for name in herald_names(&source, "\"HERALD_") {
                found.entry(name).or_insert_with(|| path.clone());
            }
        }
    }
}

/// The `HERALD_…` names that follow each occurrence of `opening` (`"HERALD_` or `` `HERALD_``).
fn herald_names(text: &str, opening: &str) -> Vec<String> {
    text.match_indices(opening)
        .map(|(at, _)| {
            text[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

/// The settings the code reads and the README's configuration table name the same set.
/// (Test-only variables live in `tests/`, which is not scanned.)
#[test]
fn every_setting_the_code_reads_is_in_the_readme_table_and_back() {
    let root = repo_root();
    let mut in_code = std::collections::BTreeMap::new();
    settings_in_code(&root.join("crates/herald/src"), &mut in_code);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table: Vec<String> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Configuration"))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| herald_names(l.split('|').nth(1).unwrap_or_default(), "`HERALD_"))
        .collect();
    assert!(!in_code.is_empty() && !table.is_empty());
    let mut problems = Vec::new();
    for (name, file) in &in_code {
        if !table.contains(name) {
            problems.push(format!(
                "{name} is read in {} but has no row in README.md's configuration table",
                file.strip_prefix(&root).unwrap_or(file).display()
            ));
        }
    }
    for name in &table {
        if !in_code.contains_key(name) {
            problems.push(format!(
                "{name} has a row in README.md's configuration table but crates/herald/src never reads it"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
