//! A sub-millisecond sleep for the open-model scheduler.
//!
//! tokio's timer wheel has 1 ms granularity and rounds deadlines up, which alone makes
//! every request up to a millisecond late. On Linux a `timerfd` armed with the remaining
//! nanoseconds wakes the runtime's epoll at the due time instead, without spinning a core
//! (the generator shares its cores with the target here). Elsewhere, or if the timerfd
//! cannot be created, the tokio timer is used.

use std::time::Instant;

#[cfg(target_os = "linux")]
mod imp {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;

    pub struct TimerFd(AsyncFd<OwnedFd>);

    impl TimerFd {
        pub fn new() -> Option<TimerFd> {
            // SAFETY: plain syscall; the returned descriptor is checked and then owned.
            let fd = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if fd < 0 {
                return None;
            }
            // SAFETY: `fd` is a fresh descriptor that nothing else owns.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: the OwnedFd is moved into the AsyncFd and stays open, unchanged, until
            // the AsyncFd drops it.
            unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
                .ok()
                .map(TimerFd)
        }

        pub async fn sleep(&self, d: Duration) -> bool {
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: d.as_secs() as libc::time_t,
                    // A zero value would disarm the timer: wake after 1 ns instead.
                    tv_nsec: (d.subsec_nanos().max(u32::from(d.as_secs() == 0))) as libc::c_long,
                },
            };
            let fd = self.0.get_ref().as_raw_fd();
            // SAFETY: valid descriptor and a fully initialised itimerspec.
            if unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) } != 0 {
                return false;
            }
            loop {
                let Ok(mut guard) = self.0.readable().await else {
                    return false;
                };
                let mut expirations = 0u64;
                // SAFETY: reading 8 bytes into a u64, as timerfd requires.
                let n = unsafe {
                    libc::read(
                        fd,
                        (&mut expirations as *mut u64).cast(),
                        std::mem::size_of::<u64>(),
                    )
                };
                if n == 8 {
                    return true;
                }
                guard.clear_ready();
            }
        }
    }
}

/// Sleeps until a deadline with sub-millisecond precision where the platform allows.
pub struct PreciseSleep {
    #[cfg(target_os = "linux")]
    fd: Option<imp::TimerFd>,
}

impl PreciseSleep {
    pub fn new() -> PreciseSleep {
        PreciseSleep {
            #[cfg(target_os = "linux")]
            fd: imp::TimerFd::new(),
        }
    }

    pub async fn until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            if fd.sleep(deadline - now).await {
                return;
            }
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

impl Default for PreciseSleep {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn never_wakes_early() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = PreciseSleep::new();
            for us in [50u64, 300, 1500] {
                let deadline = Instant::now() + Duration::from_micros(us);
                s.until(deadline).await;
                assert!(Instant::now() >= deadline);
            }
            // A past deadline returns at once.
            s.until(Instant::now() - Duration::from_millis(1)).await;
        });
    }
}
