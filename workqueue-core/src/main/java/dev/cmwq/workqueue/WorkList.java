package dev.cmwq.workqueue;

/**
 * An intrusive doubly-linked list of work items: a pool's worklist, a worker's scheduled list or a
 * pwq's inactive list. Insertion at the tail, removal of any element and access to the head are
 * O(1), so cancelling a pending item never scans (the kernel's {@code list_head}).
 *
 * <p>Not thread-safe: every list belongs to one worker pool and is guarded by that pool's lock, and
 * so are the {@code prev}, {@code next} and {@code list} fields of the items on it.
 */
final class WorkList {
    private Work first;
    private Work last;
    private int size;

    void addLast(Work w) {
        w.list = this;
        w.prev = last;
        w.next = null;
        if (last == null) {
            first = w;
        } else {
            last.next = w;
        }
        last = w;
        size++;
    }

    void remove(Work w) {
        assert w.list == this;
        Work p = w.prev;
        Work n = w.next;
        if (p == null) {
            first = n;
        } else {
            p.next = n;
        }
        if (n == null) {
            last = p;
        } else {
            n.prev = p;
        }
        w.prev = null;
        w.next = null;
        w.list = null;
        size--;
    }

    Work first() {
        return first;
    }

    Work pollFirst() {
        Work w = first;
        if (w != null) {
            remove(w);
        }
        return w;
    }

    boolean isEmpty() {
        return first == null;
    }

    int size() {
        return size;
    }

    /** Moves every item to the tail of {@code to}, in order. */
    void drainTo(WorkList to) {
        Work w;
        while ((w = pollFirst()) != null) {
            to.addLast(w);
        }
    }
}
