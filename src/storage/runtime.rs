//! The async runtime object_store calls run on. The store's API is blocking:
//! each call waits on its requests here, with the GIL released by the binding.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::runtime::{Builder, Runtime};

struct Shared {
    pid: u32,
    runtime: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Shared>> = Mutex::new(None);

/// Runs `future` to completion on the process's runtime. A forked child gets
/// a runtime of its own: the parent's worker threads do not exist in it.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

fn runtime() -> Arc<Runtime> {
    let pid = std::process::id();
    let mut shared = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = shared.as_ref().filter(|s| s.pid == pid) {
        return s.runtime.clone();
    }
    let runtime = Arc::new(
        Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("docetl-checkpoint-io")
            .enable_all()
            .build()
            .expect("the IO runtime starts"),
    );
    if let Some(stale) = shared.take() {
        // a fork's copy of the parent's runtime: its threads are gone, so it
        // cannot be shut down cleanly; leak it instead of blocking on it
        std::mem::forget(stale);
    }
    *shared = Some(Shared {
        pid,
        runtime: runtime.clone(),
    });
    runtime
}
