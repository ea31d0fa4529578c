//! A list of named, timed steps: each prints a `==> name` header and its wall time, a failure is
//! reported with the step's name, and a summary of every step's outcome and duration closes the
//! run. By default the first failure stops the run (later steps are listed as "not run").

use std::time::{Duration, Instant};

/// What a step returns: `Err` carries a one-line reason (the failing command, usually).
pub type StepResult = Result<(), String>;

struct Step<'a> {
    name: String,
    body: Box<dyn FnOnce() -> StepResult + 'a>,
}

enum Outcome {
    Ok(Duration),
    Failed(Duration, String),
    NotRun,
}

/// An ordered list of steps, run by [`Steps::run`].
#[derive(Default)]
pub struct Steps<'a> {
    steps: Vec<Step<'a>>,
}

impl<'a> Steps<'a> {
    /// Appends a step.
    pub fn add(&mut self, name: impl Into<String>, body: impl FnOnce() -> StepResult + 'a) {
        self.steps.push(Step {
            name: name.into(),
            body: Box::new(body),
        });
    }

    /// Runs the steps in order and prints the summary. Returns `true` when every step passed.
    pub fn run(self, keep_going: bool) -> bool {
        let total = Instant::now();
        let mut results: Vec<(String, Outcome)> = Vec::with_capacity(self.steps.len());
        let mut stop = false;
        for step in self.steps {
            if stop {
                results.push((step.name, Outcome::NotRun));
                continue;
            }
            println!("\n==> {}", step.name);
            let start = Instant::now();
            let result = (step.body)();
            let took = start.elapsed();
            match result {
                Ok(()) => {
                    println!("<== {}: ok ({})", step.name, secs(took));
                    results.push((step.name, Outcome::Ok(took)));
                }
                Err(why) => {
                    eprintln!(
                        "<== {}: FAILED ({})\nxtask: step `{}` failed: {why}",
                        step.name,
                        secs(took),
                        step.name
                    );
                    results.push((step.name, Outcome::Failed(took, why)));
                    stop = !keep_going;
                }
            }
        }
        summary(&results, total.elapsed())
    }
}

fn summary(results: &[(String, Outcome)], total: Duration) -> bool {
    let width = results.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    println!("\n==> summary");
    let mut failed = Vec::new();
    for (name, outcome) in results {
        let (status, time) = match outcome {
            Outcome::Ok(d) => ("ok", secs(*d)),
            Outcome::Failed(d, _) => {
                failed.push(name.as_str());
                ("FAILED", secs(*d))
            }
            Outcome::NotRun => ("not run", String::new()),
        };
        println!("  {name:<width$}  {status:<7}  {time:>8}");
    }
    println!("  {:<width$}  {:<7}  {:>8}", "total", "", secs(total));
    if failed.is_empty() {
        println!("all steps passed");
        true
    } else {
        for (name, outcome) in results {
            if let Outcome::Failed(_, why) = outcome {
                eprintln!("xtask: FAILED `{name}`: {why}");
            }
        }
        false
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::Steps;
    use std::cell::Cell;

    #[test]
    fn stops_at_first_failure_unless_keep_going() {
        for (keep_going, expected_runs) in [(false, 0), (true, 2)] {
            let runs = Cell::new(0);
            let mut s = Steps::default();
            s.add("fails", || Err("boom".into()));
            s.add("counts", || {
                runs.set(runs.get() + 1);
                Ok(())
            });
            s.add("counts again", || {
                runs.set(runs.get() + 1);
                Ok(())
            });
            assert!(!s.run(keep_going));
            assert_eq!(runs.get(), expected_runs);
        }
    }

    #[test]
    fn all_ok() {
        let mut s = Steps::default();
        s.add("a", || Ok(()));
        assert!(s.run(false));
    }
}
