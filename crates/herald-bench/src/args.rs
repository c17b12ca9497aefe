//! The command line. A bad flag or value is an error that names it (exit 2), never a panic;
//! `--help` prints [`USAGE`].

use crate::sink::Shape;
use std::time::Duration;

pub const USAGE: &str = "\
usage: herald-bench [flags]   (after cargo build --release -p herald -p herald-bench)
  --subscriptions N        subscriptions to register and broadcast to (10000)
  --rounds N               broadcasts one after the other (1)
  --concurrency N          HERALD_DELIVERY_CONCURRENCY (4096)
  --herald PATH            the herald binary (target/release/herald)
  --latency-ms MIN-MAX     the mock answers after MIN..MAX ms (at once)
  --max-streams N          the mock's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited)
  --goaway-after N         the mock sends GOAWAY after N streams on a connection (never)
  --origins N              N mock push services, subscriptions spread round-robin (1)
  --hung-subscriptions M   M more subscriptions at an origin that never answers (0)
  --nginx                  nginx (bench/nginx-sink.sh) instead of the mock
  --node                   also send with web-push for Node (bench/webpush-node)
  --webpush-rust PATH      also send with the Rust web-push crate (bench/webpush-rust)
  --database URL           PostgreSQL or MariaDB server (postgres://postgres@127.0.0.1:5432,
                           mysql://root@127.0.0.1:3306): a fresh database is created on it
                           and dropped at the end (default: a fresh SQLite file)
  --instances N            N `herald serve` processes on that database, each on its own
                           port; the broadcast goes to the first, all deliver (1)
  --import                 register with `herald subscriptions import` of a generated file
                           before the server starts, instead of through the API
  --tagged N               give N of the subscriptions, spread evenly, one of the tags
                           bench:a and bench:b at registration (0)
  --audience all|tags      broadcast to all clients, or {\"tags\": {\"any\": [\"bench:a\",
                           \"bench:b\"]}} (all)
  --env NAME=VALUE         one more server setting (repeatable)
  --help                   this text
BENCH_HERALD_LOG=FILTER passes a log filter to the servers and shows their log.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    All,
    Tags,
}

pub struct Args {
    pub subscriptions: usize,
    pub herald: String,
    pub node: bool,
    pub webpush_rust: Option<String>,
    pub concurrency: usize,
    pub rounds: usize,
    pub shape: Shape,
    pub origins: usize,
    pub hung_subscriptions: usize,
    pub nginx: bool,
    pub env: Vec<(String, String)>,
    pub database: Option<String>,
    pub instances: usize,
    pub import: bool,
    pub tagged: usize,
    pub audience: Audience,
}

/// What the command line asks for instead of a run.
pub enum Refusal {
    Help,
    Bad(String),
}

impl Args {
    pub fn parse(mut it: impl Iterator<Item = String>) -> Result<Self, Refusal> {
        let mut args = Args {
            subscriptions: 10_000,
            herald: "target/release/herald".into(),
            node: false,
            webpush_rust: None,
            concurrency: 4096,
            rounds: 1,
            shape: Shape::default(),
            origins: 1,
            hung_subscriptions: 0,
            nginx: false,
            env: Vec::new(),
            database: None,
            instances: 1,
            import: false,
            tagged: 0,
            audience: Audience::All,
        };
        let bad = Refusal::Bad;
        while let Some(flag) = it.next() {
            let mut value = |what: &str| it.next().ok_or_else(|| bad(format!("{flag} needs {what}")));
            match flag.as_str() {
                "--help" | "-h" => return Err(Refusal::Help),
                "--subscriptions" => args.subscriptions = number(&flag, value("a number")?)?,
                "--rounds" => args.rounds = positive(&flag, value("a number")?)?,
                "--concurrency" => args.concurrency = positive(&flag, value("a number")?)?,
                "--herald" => args.herald = value("a path")?,
                "--node" => args.node = true,
                "--webpush-rust" => args.webpush_rust = Some(value("a path")?),
                "--latency-ms" => {
                    let v = value("MIN-MAX")?;
                    let (min, max) = v.split_once('-').unwrap_or((&v, &v));
                    let (min, max): (u64, u64) = (number(&flag, min.into())?, number(&flag, max.into())?);
                    if min > max {
                        return Err(bad(format!("{flag} {v}: MIN is above MAX")));
                    }
                    args.shape.latency = Some((Duration::from_millis(min), Duration::from_millis(max)));
                }
                "--max-streams" => args.shape.max_streams = Some(positive(&flag, value("a number")?)?),
                "--goaway-after" => args.shape.goaway_after = Some(positive(&flag, value("a number")?)?),
                "--origins" => args.origins = positive(&flag, value("a number")?)?,
                "--hung-subscriptions" => args.hung_subscriptions = number(&flag, value("a number")?)?,
                "--nginx" => args.nginx = true,
                "--env" => {
                    let v = value("NAME=VALUE")?;
                    let (k, v) = v
                        .split_once('=')
                        .ok_or_else(|| bad(format!("--env {v}: expected NAME=VALUE")))?;
                    args.env.push((k.to_owned(), v.to_owned()));
                }
                "--database" => {
                    let v = value("a URL")?;
                    if !(v.starts_with("postgres://") || v.starts_with("postgresql://") || v.starts_with("mysql://")) {
                        return Err(bad(format!(
                            "--database {v}: expected a postgres:// or mysql:// server URL (SQLite is the default)"
                        )));
                    }
                    args.database = Some(v);
                }
                "--instances" => args.instances = positive(&flag, value("a number")?)?,
                "--import" => args.import = true,
                "--tagged" => args.tagged = number(&flag, value("a number")?)?,
                "--audience" => {
                    args.audience = match value("all or tags")?.as_str() {
                        "all" => Audience::All,
                        "tags" => Audience::Tags,
                        other => return Err(bad(format!("--audience {other}: expected all or tags"))),
                    }
                }
                other => return Err(bad(format!("unknown flag {other}"))),
            }
        }
        args.check().map_err(bad)?;
        Ok(args)
    }

    /// Combinations that cannot run.
    fn check(&self) -> Result<(), String> {
        if self.instances > 1 && self.database.is_none() {
            return Err(
                "--instances above 1 needs --database (instances share a PostgreSQL or MariaDB database)".into(),
            );
        }
        if self.nginx && self.hung_subscriptions > 0 {
            return Err("--hung-subscriptions needs the mock stand-in, not --nginx".into());
        }
        if self.tagged > self.subscriptions {
            return Err(format!(
                "--tagged {} is more than --subscriptions {}",
                self.tagged, self.subscriptions
            ));
        }
        if self.audience == Audience::Tags && self.tagged == 0 {
            return Err("--audience tags needs --tagged N".into());
        }
        if self.audience == Audience::Tags && self.hung_subscriptions > 0 {
            return Err("--audience tags cannot be combined with --hung-subscriptions".into());
        }
        Ok(())
    }

    /// Subscriptions the broadcast goes to (those at the hung origin included).
    pub fn targets(&self) -> usize {
        match self.audience {
            Audience::All => self.subscriptions + self.hung_subscriptions,
            Audience::Tags => self.tagged,
        }
    }

    /// Pushes the healthy origins must receive for a round to be complete.
    pub fn healthy_targets(&self) -> usize {
        match self.audience {
            Audience::All => self.subscriptions,
            Audience::Tags => self.tagged,
        }
    }

    /// The tag subscription `i` gets at registration, if any: `tagged` of them spread evenly
    /// over `0..subscriptions`, alternating between two tags.
    pub fn tag_of(&self, i: usize) -> Option<&'static str> {
        if i >= self.subscriptions || self.tagged == 0 {
            return None;
        }
        let (n, t) = (self.subscriptions as u128, self.tagged as u128);
        let (rank, next) = (i as u128 * t / n, (i as u128 + 1) * t / n);
        (next > rank).then_some(if rank % 2 == 0 { "bench:a" } else { "bench:b" })
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, Refusal> {
    value
        .parse()
        .map_err(|_| Refusal::Bad(format!("{flag} {value}: expected a whole number")))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(flag: &str, value: String) -> Result<T, Refusal> {
    let n: T = number(flag, value.clone())?;
    if n <= T::default() {
        return Err(Refusal::Bad(format!("{flag} {value}: must be at least 1")));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args, Refusal> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    fn refusal(line: &str) -> String {
        match parse(line) {
            Err(Refusal::Bad(text)) => text,
            Err(Refusal::Help) => "help".into(),
            Ok(_) => "accepted".into(),
        }
    }

    #[test]
    fn bad_flags_and_values_are_named() {
        assert_eq!(refusal("--help"), "help");
        assert_eq!(refusal("--subscriptions 10 --bogus"), "unknown flag --bogus");
        assert_eq!(refusal("--subscriptions"), "--subscriptions needs a number");
        assert_eq!(refusal("--rounds x"), "--rounds x: expected a whole number");
        assert_eq!(refusal("--rounds 0"), "--rounds 0: must be at least 1");
        assert_eq!(refusal("--latency-ms 60-30"), "--latency-ms 60-30: MIN is above MAX");
        assert_eq!(refusal("--env FOO"), "--env FOO: expected NAME=VALUE");
        assert_eq!(refusal("--audience some"), "--audience some: expected all or tags");
        assert!(refusal("--instances 2").contains("needs --database"));
        assert!(refusal("--database sqlite://x.db").contains("postgres://"));
        assert!(refusal("--audience tags").contains("needs --tagged"));
        assert!(refusal("--subscriptions 5 --tagged 6").contains("more than"));
    }

    #[test]
    fn tags_spread_evenly_over_two_tags() {
        let args = parse("--subscriptions 10 --tagged 4 --audience tags").ok().unwrap();
        let tags: Vec<_> = (0..10).map(|i| args.tag_of(i)).collect();
        assert_eq!(tags.iter().flatten().count(), 4);
        assert_eq!(tags.iter().flatten().filter(|t| **t == "bench:a").count(), 2);
        assert_eq!(args.targets(), 4);
        let all = parse("--subscriptions 7 --tagged 7").ok().unwrap();
        assert!((0..7).all(|i| all.tag_of(i).is_some()));
        assert_eq!(all.targets(), 7);
    }
}
