//! The rules file (`--config`) at start and while running. Upstream restarts for every rules change; we
//! reload: the file's directory is watched (a ConfigMap volume swaps its `..data` symlink, editors
//! rewrite or replace the file), SIGHUP asks too, and a slow poll catches what a watch may miss. A change
//! is debounced, loaded and validated whole by the RuleNamer before anything changes; on success a relist
//! starts at once (discovery and the served groups follow the new file within it), on failure the
//! running rules stay and the errors are logged with file, rule and field. `/metrics` says how the last
//! reload went.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use adapter_actors::Clock;
use adapter_actors::prom_querier::ReloadBackends;
use adapter_actors::relister::RelistNow;
use adapter_actors::rule_namer::Reload;
use adapter_config::Config;
use anyhow::bail;
use notify::Watcher;

use crate::telemetry::Telemetry;

/// Changes closer together than this are one reload.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often the file is compared anyway.
const POLL: Duration = Duration::from_secs(10);

/// Loads the rules file at start: every warning is logged (its rule is disabled); with `strict`, warnings
/// refuse the start as errors do.
pub fn load(file: &str, text: &str, strict: bool) -> anyhow::Result<Config> {
    let config = adapter_config::rules::load(file, text).map_err(|e| anyhow::anyhow!("{e}"))?;
    if strict && !config.warnings.is_empty() {
        let lines: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        bail!("--strict-config: {}", lines.join("\n"));
    }
    log_warnings(&config);
    Ok(config)
}

fn log_warnings(config: &Config) {
    for warning in &config.warnings {
        tracing::warn!(%warning, "rule disabled: upstream starts with this and fails later");
    }
}

/// Who a reload talks to.
pub struct Peers {
    pub namer: Recipient<Reload>,
    pub relister: Recipient<RelistNow>,
    /// The querier, which builds the backends of the new file before its rules are swapped in.
    pub querier: Recipient<ReloadBackends>,
}

/// Watches `path` and reloads on every change of its content, and on SIGHUP. Runs on the actors' thread
/// until the process ends.
pub fn watch(
    path: PathBuf,
    strict: bool,
    text: String,
    peers: Peers,
    telemetry: Arc<Telemetry>,
    clock: Clock,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    // The watcher lives as long as the loop below; it reports on a thread of its own.
    let watcher = directory_watcher(&path, tx.clone());
    let hangup = tx.clone();
    actix_web::rt::spawn(async move {
        let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("SIGHUP cannot be caught: reload on file changes only");
            return;
        };
        while signal.recv().await.is_some() {
            let _ = hangup.send("SIGHUP");
        }
    });
    let poll = tx;
    actix_web::rt::spawn(async move {
        let mut ticks = tokio::time::interval(POLL);
        loop {
            ticks.tick().await;
            if poll.send("poll").is_err() {
                return;
            }
        }
    });
    actix_web::rt::spawn(async move {
        let _watcher = watcher;
        let mut current = text;
        while let Some(mut cause) = rx.recv().await {
            // Debounce: a symlink swap or an editor's save is several events.
            tokio::time::sleep(DEBOUNCE).await;
            while let Ok(next) = rx.try_recv() {
                if next == "SIGHUP" {
                    cause = next;
                }
            }
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(error) => {
                    // Mid-swap, or removed: the next event or poll tries again.
                    if cause == "SIGHUP" {
                        tracing::warn!(file = %path.display(), %error, "reload asked for, but the rules file cannot be read");
                        telemetry.observe_reload(false, clock.unix_seconds());
                    }
                    continue;
                }
            };
            if text == current && cause != "SIGHUP" {
                continue;
            }
            let file = path.display().to_string();
            // The backends are built before the rules are swapped, so a backend that cannot be built
            // (an unreadable CA or token) leaves the running rules and backends as they are. A file that
            // does not compile is the namer's to report, error by error.
            if let Ok(config) = adapter_config::rules::load(&file, &text) {
                let built = peers
                    .querier
                    .send(ReloadBackends(Arc::new(config)))
                    .await
                    .unwrap_or_else(|e| Err(format!("querier unavailable: {e}")));
                if let Err(error) = built {
                    current = text;
                    tracing::error!(%error, "rules not reloaded: a backend cannot be built; the running rules stay");
                    telemetry.observe_reload(false, clock.unix_seconds());
                    continue;
                }
            }
            let reload = Reload {
                file: file.clone(),
                text: text.clone(),
                strict,
            };
            match peers.namer.send(reload).await {
                Ok(Ok(generation)) => {
                    current = text;
                    tracing::info!(file, generation, cause, "rules reloaded; relisting");
                    telemetry.observe_reload(true, clock.unix_seconds());
                    if let Err(error) = peers.relister.send(RelistNow).await {
                        tracing::warn!(%error, "relist after reload not started");
                    }
                }
                Ok(Err(errors)) => {
                    // Remember the bad text: it is not retried until it changes (or SIGHUP).
                    current = text;
                    for error in &errors.0 {
                        tracing::error!(%error, "rules not reloaded; the running rules stay");
                    }
                    telemetry.observe_reload(false, clock.unix_seconds());
                }
                Err(error) => {
                    tracing::error!(%error, "rules not reloaded: rule namer unavailable");
                    telemetry.observe_reload(false, clock.unix_seconds());
                }
            }
        }
    });
}

/// A watcher on the file's directory (the file itself may be a symlink that is replaced, or a file that
/// is renamed over); any event there is worth a look, the content comparison decides.
fn directory_watcher(
    path: &Path,
    tx: tokio::sync::mpsc::UnboundedSender<&'static str>,
) -> Option<notify::RecommendedWatcher> {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut watcher =
        match notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                let _ = tx.send("change");
            }
        }) {
            Ok(watcher) => watcher,
            Err(error) => {
                tracing::warn!(%error, "cannot watch the rules file; polling every 10 s");
                return None;
            }
        };
    if let Err(error) = watcher.watch(&directory, notify::RecursiveMode::NonRecursive) {
        tracing::warn!(directory = %directory.display(), %error, "cannot watch the rules file's directory; polling every 10 s");
        return None;
    }
    Some(watcher)
}
