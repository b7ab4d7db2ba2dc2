package dev.cmwq.workqueue;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The active-item count of an unbound workqueue across all its pool workqueues, the kernel's
 * {@code wq_node_nr_active} (the kernel keeps one per NUMA node and splits max_active between
 * them; here there is one for the whole queue, so max_active caps the queue as a whole however
 * many pods it has).
 *
 * <p>A pwq that wants to activate an item takes a slot ({@link #tryGetOrQueue}); when none is free
 * it goes on the {@code pending} list (once). When an active item ends, its slot is not simply
 * freed: it is handed to the first pending pwq ({@link #release}), round-robin, which then
 * activates its oldest inactive item. The hand-off crosses pools, so the receiving pwq is
 * activated from its own pool's lock (directly when it is the same pwq, otherwise by its
 * activation timer on the engine timer thread), and the slot it was given is counted in its
 * {@code granted} until then. A pwq that can't use a granted slot (frozen, plugged, nothing left)
 * hands it on.
 *
 * <p>{@code lock} guards {@code nr}, {@code max}, {@code pending}, and every pwq's
 * {@code onPending} and {@code granted}. It is taken inside a pool lock and nothing is taken
 * inside it.
 */
final class UnboundNrActive {
    private final ReentrantLock lock = new ReentrantLock();
    private int nr;
    private int max;
    private final ArrayDeque<PoolWorkqueue> pending = new ArrayDeque<>();

    UnboundNrActive(int max) {
        this.max = max;
    }

    /**
     * Takes a slot for {@code pwq} (its pool lock held) if one is free; otherwise puts it on the
     * pending list, where the next released slot will find it.
     */
    boolean tryGetOrQueue(PoolWorkqueue pwq) {
        lock.lock();
        try {
            if (nr < max) {
                nr++;
                return true;
            }
            if (!pwq.onPending) {
                pwq.onPending = true;
                pending.addLast(pwq);
            }
            return false;
        } finally {
            lock.unlock();
        }
    }

    /**
     * An active item ended (or a granted slot went unused): the slot goes to the first pending pwq,
     * which is returned (it must then be activated), or is freed if none waits or the count is
     * above a lowered max_active (null).
     */
    PoolWorkqueue release() {
        lock.lock();
        try {
            if (nr > max) { // max_active was lowered: this slot goes away (pwq_dec_nr_active())
                nr--;
                return null;
            }
            PoolWorkqueue p = pending.pollFirst();
            if (p == null) {
                nr--;
                return null;
            }
            p.onPending = false;
            p.granted++;
            return p;
        } finally {
            lock.unlock();
        }
    }

    /** The slots handed to {@code pwq} and not yet used; they are now the caller's. */
    int takeGranted(PoolWorkqueue pwq) {
        lock.lock();
        try {
            int g = pwq.granted;
            pwq.granted = 0;
            return g;
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@code workqueue_set_max_active()} for an unbound queue: a higher limit hands the new slots to
     * pending pwqs, which are returned for activation.
     */
    List<PoolWorkqueue> setMax(int n) {
        List<PoolWorkqueue> grantees = new ArrayList<>();
        lock.lock();
        try {
            max = n;
            PoolWorkqueue p;
            while (nr < max && (p = pending.pollFirst()) != null) {
                nr++;
                p.onPending = false;
                p.granted++;
                grantees.add(p);
            }
        } finally {
            lock.unlock();
        }
        return grantees;
    }

    /** Active items (and slots in hand-off) now. */
    int nr() {
        lock.lock();
        try {
            return nr;
        } finally {
            lock.unlock();
        }
    }
}
