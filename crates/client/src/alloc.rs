//! Small-number allocators for tags and fids: reuse freed numbers first.

#[derive(Debug)]
pub(crate) struct IdAlloc<T> {
    next: T,
    limit: T,
    free: Vec<T>,
}

macro_rules! impl_alloc {
    ($t:ty) => {
        impl IdAlloc<$t> {
            /// Numbers from `first` up to but excluding `limit`.
            pub fn new(first: $t, limit: $t) -> Self {
                IdAlloc {
                    next: first,
                    limit,
                    free: Vec::new(),
                }
            }

            pub fn alloc(&mut self) -> Option<$t> {
                if let Some(id) = self.free.pop() {
                    return Some(id);
                }
                if self.next >= self.limit {
                    return None;
                }
                let id = self.next;
                self.next += 1;
                Some(id)
            }

            pub fn free(&mut self, id: $t) {
                self.free.push(id);
            }
        }
    };
}

impl_alloc!(u16);
impl_alloc!(u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_freed_ids_and_stops_at_the_limit() {
        let mut a = IdAlloc::<u16>::new(0, 3);
        assert_eq!(a.alloc(), Some(0));
        assert_eq!(a.alloc(), Some(1));
        assert_eq!(a.alloc(), Some(2));
        assert_eq!(a.alloc(), None);
        a.free(1);
        assert_eq!(a.alloc(), Some(1));
    }
}
