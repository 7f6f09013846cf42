//! Progress for long runs: an indicatif bar on a terminal, plain lines in a log file.
//!
//! indicatif draws nothing when stderr is not a terminal, so a 25-minute evaluation or a
//! two-hour training run started with `nohup … > run.log` used to be silent until it ended.
//! [`Progress`] keeps the bar on a terminal and otherwise writes one line at most every
//! `every` (and always for the last item), with the position, elapsed time, an estimate
//! of the time left and the current message. indicatif has no such log mode, hence this
//! small wrapper.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where a [`Progress`] reports.
enum Sink {
    /// An indicatif bar (hidden when progress is off).
    Bar(indicatif::ProgressBar),
    /// Plain lines, rate-limited.
    Lines(Mutex<Lines>),
}

struct Lines {
    out: Box<dyn Write + Send>,
    label: String,
    total: u64,
    pos: u64,
    /// Position when this run started (a resumed run estimates from its own pace).
    start_pos: u64,
    msg: String,
    start: Instant,
    last: Option<Instant>,
    every: Duration,
}

/// Progress over `total` items: a bar on a terminal, rate-limited lines otherwise.
pub struct Progress {
    sink: Sink,
}

impl Progress {
    /// Progress over `total` items starting at `done`, labelled `label`. With `show`
    /// false it reports nothing; with stderr not a terminal it writes a line to stderr at
    /// most every `every`.
    pub fn new(label: &str, total: usize, done: usize, show: bool, every: Duration) -> Self {
        if show && !std::io::stderr().is_terminal() {
            return Self::lines(Box::new(std::io::stderr()), label, total, done, every);
        }
        let bar = if show {
            indicatif::ProgressBar::new(total as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{label} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}}<{{eta_precise}}] {{msg}}"
            ))
            .expect("static template"),
        );
        bar.set_position(done as u64);
        Self {
            sink: Sink::Bar(bar),
        }
    }

    /// Line-mode progress writing to `out` (what [`Progress::new`] uses off a terminal).
    pub fn lines(
        out: Box<dyn Write + Send>,
        label: &str,
        total: usize,
        done: usize,
        every: Duration,
    ) -> Self {
        Self {
            sink: Sink::Lines(Mutex::new(Lines {
                out,
                label: label.to_string(),
                total: total as u64,
                pos: done as u64,
                start_pos: done as u64,
                msg: String::new(),
                start: Instant::now(),
                last: None,
                every,
            })),
        }
    }

    /// Set the message shown after the counts (written with the next line).
    pub fn set_message(&self, msg: String) {
        match &self.sink {
            Sink::Bar(b) => b.set_message(msg),
            Sink::Lines(l) => lock(l).msg = msg,
        }
    }

    /// Advance by `n` items.
    pub fn inc(&self, n: u64) {
        match &self.sink {
            Sink::Bar(b) => b.inc(n),
            Sink::Lines(l) => {
                let mut l = lock(l);
                let pos = l.pos + n;
                l.advance(pos);
            }
        }
    }

    /// Move to item `pos`.
    pub fn set_position(&self, pos: u64) {
        match &self.sink {
            Sink::Bar(b) => b.set_position(pos),
            Sink::Lines(l) => lock(l).advance(pos),
        }
    }

    /// Remove the bar (lines stay in the log).
    pub fn finish_and_clear(&self) {
        if let Sink::Bar(b) = &self.sink {
            b.finish_and_clear();
        }
    }
}

/// A poisoned lock only means another thread panicked mid-report; the counts are still
/// usable, so progress never turns that into a second panic.
fn lock(l: &Mutex<Lines>) -> std::sync::MutexGuard<'_, Lines> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

impl Lines {
    fn advance(&mut self, pos: u64) {
        if pos == self.pos {
            return;
        }
        self.pos = pos;
        let now = Instant::now();
        let due = self
            .last
            .map_or(true, |t| now.duration_since(t) >= self.every);
        if !due && pos < self.total {
            return;
        }
        self.last = Some(now);
        let elapsed = now.duration_since(self.start).as_secs_f64();
        let done_here = pos.saturating_sub(self.start_pos);
        let left = if done_here > 0 && self.total > pos {
            format!(
                ", ~{} left",
                clock(elapsed / done_here as f64 * (self.total - pos) as f64)
            )
        } else {
            String::new()
        };
        let msg = if self.msg.is_empty() {
            String::new()
        } else {
            format!(" {}", self.msg)
        };
        // A log line that cannot be written (closed pipe, full disk) must not stop the run.
        let _ = writeln!(
            self.out,
            "{} {}/{} [{} elapsed{left}]{msg}",
            self.label,
            pos,
            self.total,
            clock(elapsed)
        );
        let _ = self.out.flush();
    }
}

/// `h:mm:ss` for a duration in seconds.
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A `Write` whose bytes the test can read back after the progress is done.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn text(s: &Shared) -> String {
        String::from_utf8(s.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn every_item_gets_a_line_when_the_interval_is_zero() {
        let out = Shared::default();
        let p = Progress::lines(Box::new(out.clone()), "GRPO", 4, 1, Duration::ZERO);
        for step in 2..=4 {
            p.set_message(format!("reward {step}"));
            p.inc(1);
        }
        let t = text(&out);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("GRPO 2/4 ["), "{t}");
        assert!(
            lines[0].contains("left]"),
            "an estimate before the end: {t}"
        );
        assert!(lines[0].ends_with(" reward 2"), "{t}");
        assert!(lines[2].starts_with("GRPO 4/4 ["), "{t}");
        assert!(!lines[2].contains("left"), "no estimate at the end: {t}");
    }

    #[test]
    fn a_long_interval_writes_the_first_and_the_last_item_only() {
        let out = Shared::default();
        let p = Progress::lines(
            Box::new(out.clone()),
            "eval",
            100,
            0,
            Duration::from_secs(3600),
        );
        for pos in 1..=100 {
            p.set_position(pos);
        }
        let t = text(&out);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("eval 1/100 "), "{t}");
        assert!(lines[1].starts_with("eval 100/100 "), "{t}");
    }

    #[test]
    fn clock_formats_hours_minutes_seconds() {
        assert_eq!(clock(0.0), "0:00:00");
        assert_eq!(clock(3725.4), "1:02:05");
        assert_eq!(clock(-3.0), "0:00:00");
    }
}
