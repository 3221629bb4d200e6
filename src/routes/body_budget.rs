//! The bytes of request bodies held in memory, counted across every
//! connection of the process (`ADVOCATE_WEBHOOK_BODY_BUDGET_BYTES`).
//!
//! A body is read before its signature can be checked, so without a bound
//! anyone could make the process hold `connections × largest body`. Here a
//! request holds a [`Reservation`] that grows before each piece of its body
//! is allocated, as the bytes arrive; when the budget cannot cover the next
//! piece, the request is refused instead of read. Invariants: the bytes
//! reserved never exceed the capacity, and every reservation is given back
//! when it is dropped, on every path (answered, refused, timed out, or the
//! client gone).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

/// A process-wide allowance of body bytes, shared by every HTTP worker.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    inner: Arc<Counter>,
}

#[derive(Debug)]
struct Counter {
    capacity: usize,
    reserved: AtomicUsize,
}

impl BodyBudget {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Counter {
                capacity,
                reserved: AtomicUsize::new(0),
            }),
        }
    }

    /// `bytes` taken from the budget, or `None` when they do not fit.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        self.inner.take(bytes).then(|| Reservation {
            counter: self.inner.clone(),
            bytes,
        })
    }

    /// A reservation of no bytes yet, to grow with [`Reservation::cover`].
    pub fn reserve_nothing(&self) -> Reservation {
        Reservation {
            counter: self.inner.clone(),
            bytes: 0,
        }
    }

    /// Bytes reserved now, by every request in flight.
    pub fn reserved(&self) -> usize {
        self.inner.reserved.load(Ordering::Acquire)
    }
}

impl Counter {
    /// Adds `bytes` unless that would pass the capacity; all or nothing.
    fn take(&self, bytes: usize) -> bool {
        self.reserved
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |reserved| {
                reserved
                    .checked_add(bytes)
                    .filter(|total| *total <= self.capacity)
            })
            .is_ok()
    }
}

/// Bytes one request may hold; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    counter: Arc<Counter>,
    bytes: usize,
}

impl Reservation {
    /// Makes the reservation cover `total` bytes; false (and unchanged)
    /// when the budget cannot give the difference.
    pub fn cover(&mut self, total: usize) -> bool {
        if total <= self.bytes {
            return true;
        }
        if self.counter.take(total - self.bytes) {
            self.bytes = total;
            true
        } else {
            false
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.counter
            .reserved
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::BodyBudget;

    #[test]
    fn a_reservation_past_the_capacity_is_refused_and_changes_nothing() {
        let budget = BodyBudget::new(100);
        let first = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(41).is_none());
        assert_eq!(budget.reserved(), 60);
        let second = budget.try_reserve(40).unwrap();
        assert_eq!(budget.reserved(), 100);
        assert!(budget.try_reserve(1).is_none());
        drop(first);
        drop(second);
        assert_eq!(budget.reserved(), 0);
    }

    #[test]
    fn a_growing_reservation_takes_only_the_difference_and_gives_all_back() {
        let budget = BodyBudget::new(100);
        let mut growing = budget.try_reserve(0).unwrap();
        assert!(growing.cover(30));
        assert!(growing.cover(20), "covering less is a no-op");
        assert_eq!(budget.reserved(), 30);
        let other = budget.try_reserve(50).unwrap();
        assert!(!growing.cover(51), "past the capacity");
        assert_eq!(growing.bytes(), 30, "a refused growth keeps what it had");
        assert!(growing.cover(50));
        assert_eq!(budget.reserved(), 100);
        drop(growing);
        assert_eq!(budget.reserved(), 50);
        drop(other);
        assert_eq!(budget.reserved(), 0);
    }

    #[test]
    fn sizes_near_the_integer_limit_never_wrap() {
        let budget = BodyBudget::new(usize::MAX);
        let held = budget.try_reserve(usize::MAX - 1).unwrap();
        assert!(budget.try_reserve(2).is_none());
        drop(held);
        assert_eq!(budget.reserved(), 0);
    }

    #[test]
    fn threads_racing_for_the_budget_never_overcommit_it() {
        let budget = BodyBudget::new(1000);
        let granted: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let budget = budget.clone();
                    scope.spawn(move || {
                        let mut held = Vec::new();
                        for _ in 0..100 {
                            if let Some(r) = budget.try_reserve(7) {
                                held.push(r);
                            }
                        }
                        let granted = held.len() * 7;
                        // Held until every thread has tried.
                        (granted, held)
                    })
                })
                .collect();
            let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            assert!(budget.reserved() <= 1000);
            results.iter().map(|(granted, _)| granted).sum()
        });
        assert_eq!(granted, 1000 / 7 * 7, "every byte that fits is granted");
        assert_eq!(budget.reserved(), 0);
    }
}
