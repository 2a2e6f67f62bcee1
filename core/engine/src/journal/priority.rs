//! SQLite has one writer, and every commit of the journal passes through its thread. On
//! a busy machine that thread waited its turn for a core behind the deliveries, the
//! rendering and the HTTP servers, and everything waiting on the journal waited with it
//! (a Digital Post run: the writer runnable but not running most of the time it held the
//! journal). So the driver's threads (the writer, the readers, the checkpointer) are
//! raised a little above the process's other threads, when the process may do so
//! (CAP_SYS_NICE, or root); otherwise they run as any other thread, and this is said
//! once in the log.

use std::sync::atomic::{AtomicBool, Ordering};

/// How far above the normal priority (nice 0) the SQLite threads run.
const NICE: i32 = -5;

/// The name sqlx gives its SQLite connections' threads ("sqlx-sqlite-worker-N"), as the
/// kernel keeps it (15 bytes).
const THREAD_NAME: &str = "sqlx-sqlite-wor";

static REFUSAL_TOLD: AtomicBool = AtomicBool::new(false);

/// Raises every SQLite connection thread of this process not raised yet. Called after
/// each connection is made: a connection's thread is there once it is.
pub(super) fn favour_sqlite_threads() {
    match raise(THREAD_NAME, NICE) {
        Ok(_) => {}
        Err(e) if !REFUSAL_TOLD.swap(true, Ordering::Relaxed) => {
            tracing::info!(
                error = %e,
                "the journal's SQLite threads run at normal priority (raising them needs CAP_SYS_NICE)"
            );
        }
        Err(_) => {}
    }
}

/// Sets the threads of this process named `name` to `nice` where they are below it;
/// how many were changed.
#[cfg(target_os = "linux")]
fn raise(name: &str, nice: i32) -> std::io::Result<usize> {
    let mut changed = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?;
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        if nice_of(tid)? <= nice {
            continue;
        }
        // SAFETY: setpriority takes plain integers; `tid` is a thread of this process.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        changed += 1;
    }
    Ok(changed)
}

/// A thread's nice value.
#[cfg(target_os = "linux")]
fn nice_of(tid: u32) -> std::io::Result<i32> {
    // getpriority may rightly return -1, so errno tells an error apart.
    // SAFETY: errno is this thread's; getpriority takes plain integers.
    unsafe { *libc::__errno_location() = 0 };
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, tid) };
    let errno = std::io::Error::last_os_error();
    if nice == -1 && errno.raw_os_error() != Some(0) {
        return Err(errno);
    }
    Ok(nice)
}

#[cfg(not(target_os = "linux"))]
fn raise(_name: &str, _nice: i32) -> std::io::Result<usize> {
    Ok(0)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_threads_are_changed() {
        // A thread of a name of its own, lowered (allowed to anyone), then asked for
        // where it already is: nothing to change. Other threads are left alone.
        let (ready, wait) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kp-prio-test".into())
            .spawn(move || {
                // SAFETY: lowers this thread's own priority; plain integers.
                let tid = unsafe { libc::gettid() } as u32;
                unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, 7) };
                ready.send(tid).unwrap();
                stopped.recv().unwrap();
            })
            .unwrap();
        let tid = wait.recv().unwrap();
        let this = unsafe { libc::gettid() } as u32;
        let before = nice_of(this).unwrap();
        assert_eq!(nice_of(tid).unwrap(), 7);
        assert_eq!(
            raise("kp-prio-test", 9).unwrap(),
            0,
            "already at 7, above 9"
        );
        assert_eq!(nice_of(tid).unwrap(), 7);
        // Raising it back to 0 needs the privilege; without it the refusal is told.
        match raise("kp-prio-test", 0) {
            Ok(n) => {
                assert_eq!(n, 1);
                assert_eq!(nice_of(tid).unwrap(), 0);
            }
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied),
        }
        assert_eq!(
            nice_of(this).unwrap(),
            before,
            "other threads are left alone"
        );
        stop.send(()).unwrap();
        thread.join().unwrap();
    }
}
