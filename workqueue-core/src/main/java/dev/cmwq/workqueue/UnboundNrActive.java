package dev.cmwq.workqueue;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The active-item count of an unbound workqueue across all its pool workqueues, the kernel's
 * {@code wq_node_nr_active} (the kernel keeps one per NUMA node and splits max_active between
 * them; here there is one for the whole queue, so max_active caps the queue as a whole however
 * many pods it has).
 *
 * <p>A pwq that wants to activate an item takes a slot ({@link #tryGetOrQueue}); when none is free
 * it goes on the {@code pending} list (once). When an active item ends, its slot is not simply
 * freed if a pwq waits: it is handed to the first pending pwq ({@link #release}), round-robin,
 * which then activates its oldest inactive item. The hand-off crosses pools, so the receiving pwq
 * is activated from its own pool's lock (directly when it is the same pwq, otherwise by its
 * activation timer on the engine timer thread), and the slot it was given is counted in its
 * {@code granted} until then. A pwq that can't use a granted slot (frozen, plugged, nothing left)
 * hands it on.
 *
 * <h2>Protocol</h2>
 * {@code nr} (active items plus slots in hand-off) is an atomic counter: taking a free slot is a
 * CAS below {@code max} and giving one back with nobody waiting is a decrement, so the common case
 * (max_active not reached) takes no lock, as the kernel's {@code tryinc_node_nr_active()} does.
 * {@code lock} guards {@code pending}, {@code max}'s writes, and every pwq's {@code onPending} and
 * {@code granted}; {@code nrWaiting} mirrors {@code pending.size()} (written under the lock,
 * volatile). A slot freed while a pwq starts to wait is never lost (Dekker on {@code nr} and
 * {@code nrWaiting}, both sequentially consistent): the waiter publishes {@code nrWaiting} and then
 * tries the CAS again; the releaser decrements {@code nr} and then reads {@code nrWaiting}, and if
 * it sees a waiter it takes the slot back for it under the lock. At least one of them sees the
 * other. {@code max} and {@code granted} are volatile for the lock-free reads. The lock is taken
 * inside a pool lock and nothing is taken inside it.
 */
final class UnboundNrActive {
    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicInteger nr = new AtomicInteger();
    private volatile int max;
    private volatile int nrWaiting;
    private final ArrayDeque<PoolWorkqueue> pending = new ArrayDeque<>();

    UnboundNrActive(int max) {
        this.max = max;
    }

    /**
     * {@code tryinc_node_nr_active()}: a slot if one is free below max_active. Also taken by a
     * queuer before it pushes an item on a pool's intake, so that items take their slots in the
     * order they are queued, across pods, as {@code __queue_work()} does (see
     * {@link PoolWorkqueue#insertHeldLocked}).
     */
    boolean tryInc() {
        for (;;) {
            int n = nr.get();
            if (n >= max) {
                return false;
            }
            if (nr.weakCompareAndSetVolatile(n, n + 1)) {
                return true;
            }
        }
    }

    /**
     * Takes a slot for {@code pwq} (its pool lock held) if one is free; otherwise puts it on the
     * pending list, where the next released slot will find it.
     */
    boolean tryGetOrQueue(PoolWorkqueue pwq) {
        if (tryInc()) {
            return true;
        }
        lock.lock();
        try {
            boolean added = false;
            if (!pwq.onPending) {
                pwq.onPending = true;
                pending.addLast(pwq);
                nrWaiting = pending.size();
                added = true;
            }
            if (tryInc()) { // a slot freed since the first try (see the class comment)
                if (added) {
                    pending.removeLastOccurrence(pwq);
                    pwq.onPending = false;
                    nrWaiting = pending.size();
                }
                return true;
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
        if (nrWaiting == 0) {
            nr.decrementAndGet();
            if (nrWaiting == 0) {
                return null;
            }
            lock.lock(); // a pwq began to wait meanwhile: take a free slot back for it
            try {
                return grantFreeLocked();
            } finally {
                lock.unlock();
            }
        }
        lock.lock();
        try {
            if (nr.get() > max) { // max_active was lowered: this slot goes away (pwq_dec_nr_active())
                nr.decrementAndGet();
                return null;
            }
            PoolWorkqueue p = pending.pollFirst();
            if (p == null) {
                nr.decrementAndGet();
                return null;
            }
            grantLocked(p);
            return p;
        } finally {
            lock.unlock();
        }
    }

    /**
     * An active item of {@code pwq} ended and {@code pwq} has inactive items it may start: may it
     * keep the slot for the next one? Yes if no other pwq waits for a slot (none, or only
     * {@code pwq} itself) and max_active was not lowered below the count: then {@link #release}
     * would hand the slot straight back to {@code pwq} anyway, through the lock. A pwq that starts
     * to wait just after this check waits for the next slot, as it would have had it come a moment
     * later. No lock; the caller holds {@code pwq}'s pool lock.
     */
    boolean keepFor(PoolWorkqueue pwq) {
        int waiting = nrWaiting;
        return (waiting == 0 || (waiting == 1 && pwq.onPending)) && nr.get() <= max;
    }

    /** A free slot, if any, to the first pending pwq; returns it, or null. Lock held. */
    private PoolWorkqueue grantFreeLocked() {
        PoolWorkqueue p = pending.peekFirst();
        if (p == null || !tryInc()) {
            return null;
        }
        pending.pollFirst();
        grantLocked(p);
        return p;
    }

    private void grantLocked(PoolWorkqueue p) {
        nrWaiting = pending.size();
        p.onPending = false;
        p.granted++;
    }

    /** The slots handed to {@code pwq} and not yet used; they are now the caller's. */
    int takeGranted(PoolWorkqueue pwq) {
        if (pwq.granted == 0) {
            return 0; // every grant is followed by an activation of its pwq, which reads it again
        }
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
            while ((p = grantFreeLocked()) != null) {
                grantees.add(p);
            }
        } finally {
            lock.unlock();
        }
        return grantees;
    }

    /** Active items (and slots in hand-off) now. */
    int nr() {
        return nr.get();
    }
}
