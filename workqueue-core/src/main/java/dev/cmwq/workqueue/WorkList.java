package dev.cmwq.workqueue;

/**
 * An intrusive doubly-linked list of work items: a pool's worklist, a worker's scheduled list or a
 * pwq's inactive list. Insertion at the tail, removal of any element and access to the head are
 * O(1), so cancelling a pending item never scans (the kernel's {@code list_head}).
 *
 * <p>Not thread-safe: every list belongs to one worker pool ({@link #pool}) and is guarded by that
 * pool's lock, and so are the {@code prev}, {@code next} and {@code list} fields of its items.
 */
final class WorkList {
    /** What the list is; an item's place decides how cancelling it is accounted. */
    enum Kind { WORKLIST, SCHEDULED, INACTIVE }

    final WorkerPool pool;
    final Kind kind;
    private Work first;
    private Work last;
    private int size;

    WorkList(WorkerPool pool, Kind kind) {
        this.pool = pool;
        this.kind = kind;
    }

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

    boolean isEmpty() {
        return first == null;
    }

    int size() {
        return size;
    }
}
